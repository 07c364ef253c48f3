// Client-side search over the site's search index, with no server (see newsdrop/search.py: the
// tokenizer, the token hash, the sharding and the postings format here mirror it). The query comes
// from the address (/search/?q=...), so a search can be linked and bookmarked.
(function () {
  "use strict";
  var script = document.currentScript;
  var root = script.getAttribute("data-root") || "/";
  var input = document.getElementById("q");
  var results = document.getElementById("results");
  var status = document.getElementById("status");
  var moreButton = document.getElementById("more");
  var PAGE = 10;  // documents fetched per round: one screen of results
  // Documents checked for the text at most per screen asked for: the index finds every post that
  // holds the query's tokens, and where those are common, the posts holding the text itself may
  // come far down; past this the reader is asked before more are fetched.
  var CHECK = 5 * PAGE;
  var GRAMS = 3;  // Latin letters and digits are indexed as 1-, 2- and 3-grams
  var files = {};
  var manifest = null;
  var generation = 0;

  function isCJK(code) {
    return (code >= 0x3400 && code <= 0x9fff) || (code >= 0xf900 && code <= 0xfaff) ||
      (code >= 0x3040 && code <= 0x30ff) || (code >= 0xac00 && code <= 0xd7af) ||
      (code >= 0x20000 && code <= 0x2ffff);
  }
  var WORD = /[\p{L}\p{N}]/u, DIGIT = /\p{Nd}/u;
  // What a reader does not see in a word (search.py: _INVISIBLE_RANGES), and a final sigma as a sigma.
  var INVISIBLE = /[\u00AD\u034F\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFE00-\uFE0F\uFEFF\uFFF9-\uFFFB\u{110BD}\u{110CD}\u{13430}-\u{1343F}\u{1BCA0}-\u{1BCA3}\u{1D173}-\u{1D17A}\u{E0001}\u{E0020}-\u{E007F}\u{E0100}-\u{E01EF}\u0307]/gu;
  function normalise(text) {
    return text.normalize("NFKC").toLowerCase().replace(INVISIBLE, "").replace(/\u03C2/g, "\u03C3");
  }

  // Runs of CJK characters, or of letters and digits, where a point or comma between two digits
  // belongs to the run (`1.8`, `10,000`), as search.py's _run_pattern splits them.
  function runs(text) {
    var out = [], kind = "", current = [], chars = Array.from(text + " ");
    for (var i = 0; i < chars.length; i++) {
      var ch = chars[i], code = ch.codePointAt(0);
      var joins = (ch === "." || ch === ",") && kind === "word" && DIGIT.test(current[current.length - 1]) &&
        i + 1 < chars.length && DIGIT.test(chars[i + 1]);
      var now = joins ? "word" : isCJK(code) ? "cjk" : WORD.test(ch) ? "word" : "";
      if (now !== kind) {
        if (kind) out.push([kind, current]);
        kind = now; current = [];
      }
      current.push(ch);
    }
    return out;
  }

  // The fewest n-grams of a run that cover every character of it (search.py: _cover).
  function cover(chars, n) {
    if (chars.length <= n) return [chars.join("")];
    var starts = [];
    for (var i = 0; i + n <= chars.length; i += n) starts.push(i);
    if (starts[starts.length - 1] !== chars.length - n) starts.push(chars.length - n);
    return starts.map(function (start) { return chars.slice(start, start + n).join(""); });
  }

  // At most MAX_TOKENS, spread evenly over the query (search.py: query_tokens): each costs a file
  // of every run, and fewer find every document more do (the text is checked here).
  var MAX_TOKENS = 6;
  function queryTokens(query) {
    var tokens = [];
    runs(normalise(query)).forEach(function (run) {
      tokens = tokens.concat(cover(run[1], run[0] === "cjk" ? 2 : GRAMS));
    });
    var unique = Array.from(new Set(tokens)), last = unique.length - 1;
    if (unique.length <= MAX_TOKENS) return unique;
    var spread = [];
    for (var i = 0; i < MAX_TOKENS; i++) spread.push(unique[Math.floor(i * last / (MAX_TOKENS - 1))]);
    return spread;
  }

  function isShort(token) {
    var chars = Array.from(token);
    return chars.length === 1 || (chars.length === 2 && !isCJK(chars[0].codePointAt(0)));
  }

  function tokenHash(token) {
    var value = 0x811c9dc5;
    for (var ch of token) value = Math.imul(value ^ ch.codePointAt(0), 0x01000193) >>> 0;
    return value;
  }

  // Shards split the 32-bit hash range evenly (hash * shards < 2^53: exact in a double).
  function shardOf(token, shards) { return Math.floor(tokenHash(token) * shards / 4294967296); }

  function fileFor(run, token) {
    if (run.u && isShort(token)) return "search/run/" + run.id + "/s" + shardOf(token, run.u) + ".json";
    return "search/run/" + run.id + "/" + shardOf(token, run.s) + ".json";
  }

  // Ids newest first: the first whole, then each as its distance below the previous one.
  function decode(text) {
    var postings = new Map(), doc = -1;
    if (!text) return postings;
    text.split(",").forEach(function (part) {
      var pair = part.split(":");
      var value = parseInt(pair[0], 36);
      doc = doc < 0 ? value : doc - value;
      postings.set(doc, pair.length > 1 ? parseInt(pair[1], 36) : 1);
    });
    return postings;
  }

  function fetchJSON(path, fresh) {
    if (!fresh && files[path]) return files[path];
    var request = fetch(root + path, fresh ? { cache: "no-cache" } : {}).then(function (response) {
      if (!response.ok) throw new Error(response.status + " " + path);
      return response.json();
    });
    request.catch(function () { delete files[path]; });
    files[path] = request;
    return request;
  }

  // Asked again (a conditional request, usually answered 304) when a search starts more than a
  // couple of seconds after the last one, so a page left open finds what was published since.
  var FRESH_MS = 2000, manifestAt = 0;
  function loadManifest(fresh) {
    if (manifest && !fresh && Date.now() - manifestAt < FRESH_MS) return manifest;
    manifestAt = Date.now();
    manifest = fetchJSON("search/manifest.json", true);
    return manifest;
  }

  // Postings of every token: the manifest's log, and the one file of each run that holds the token.
  function postingsFor(tokens, m) {
    var wanted = [];
    tokens.forEach(function (token) {
      m.runs.forEach(function (run) { wanted.push(fileFor(run, token)); });
    });
    wanted = Array.from(new Set(wanted));
    return Promise.all(wanted.map(function (path) { return fetchJSON(path, false); })).then(function (loaded) {
      var tables = [m.log].concat(loaded.map(function (file) { return file.t; }));
      return tokens.map(function (token) {
        var merged = new Map();
        tables.forEach(function (table) {
          if (Object.prototype.hasOwnProperty.call(table, token)) {
            decode(table[token]).forEach(function (weight, doc) { merged.set(doc, weight); });
          }
        });
        return merged;
      });
    });
  }

  function candidates(query) {
    var tokens = queryTokens(query);
    if (!tokens.length) return Promise.resolve([]);
    var attempt = function (fresh) {
      return loadManifest(fresh).then(function (m) {
        return postingsFor(tokens, m).then(function (lists) {
          var deleted = new Set(m.deleted.map(function (entry) { return entry[0]; }));
          lists.sort(function (a, b) { return a.size - b.size; });
          var scored = [];
          lists[0].forEach(function (weight, doc) {
            if (deleted.has(doc)) return;
            var score = weight;
            for (var i = 1; i < lists.length; i++) {
              var other = lists[i].get(doc);
              if (other === undefined) return;
              score += other;
            }
            scored.push([doc, score]);
          });
          scored.sort(function (a, b) { return b[1] - a[1] || b[0] - a[0]; });
          return scored.map(function (pair) { return pair[0]; });
        });
      });
    };
    // A 404 means the index was compacted after this page loaded its manifest: reload it once.
    return attempt(false).catch(function () { files = {}; return attempt(true); });
  }

  // Spaces, quotes, brackets and the punctuation that ends a clause separate what a reader looks
  // for (`"央行"`, `央行，逆回购`); inside a word punctuation is part of it (`1.8%`, `11:30`).
  var SEPARATORS = /[\s"“”‘’「」『』《》〈〉()\[\]【】{}<>,，。、;；!！?？]+/u;

  function terms(query) {
    return normalise(query).split(SEPARATORS).filter(function (t) { return t.length > 0; });
  }

  function contains(doc, wanted) {
    // The title, the text and the post's categories and tags (`k`), as the index holds them.
    var haystack = normalise(doc.t + " " + doc.x + " " + (doc.k || ""));
    return wanted.every(function (term) { return haystack.indexOf(term) >= 0; });
  }

  // The text normalised as queries are (full-width letters and digits become ASCII), with where
  // each of its code units came from: a match found there is marked on the text as written.
  // A character and the marks that NFKC may join to it (combining marks, half-width kana's voiced
  // marks: ｶﾞ is ガ) are normalised together.
  var JOINS = /^[\p{M}\uFF9E\uFF9F]$/u;
  function folded(text) {
    var out = "", from = [], at = 0, chars = Array.from(text);
    for (var i = 0; i < chars.length;) {
      var unit = chars[i++];
      while (i < chars.length && JOINS.test(chars[i])) unit += chars[i++];
      var n = normalise(unit);
      for (var k = 0; k < n.length; k++) from.push(at);
      out += n;
      at += unit.length;
    }
    from.push(at);
    return { text: out, from: from };
  }

  // The first match of any term at or after `at` in folded text: [start, end) in the folded text.
  function firstMatch(text, wanted, at) {
    var next = -1, length = 0;
    wanted.forEach(function (term) {
      var found = text.indexOf(term, at);
      if (found >= 0 && (next < 0 || found < next)) { next = found; length = term.length; }
    });
    return next < 0 ? null : [next, next + length];
  }

  function highlight(parent, text, wanted) {
    var f = folded(text), at = 0, written = 0, match;
    while ((match = firstMatch(f.text, wanted, at)) !== null) {
      var start = f.from[match[0]], end = f.from[match[1]];
      parent.appendChild(document.createTextNode(text.slice(written, start)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(start, end);
      parent.appendChild(mark);
      written = end;
      at = match[1];
    }
    parent.appendChild(document.createTextNode(text.slice(written)));
  }

  // A cut that does not split a character outside the BMP (an emoji, 𠮷) in half: strings index
  // UTF-16 code units, and half a pair shows as a replacement character.
  function cut(text, at) {
    var code = text.charCodeAt(at);
    return at > 0 && code >= 0xdc00 && code <= 0xdfff ? at - 1 : at;
  }

  function snippet(text, wanted) {
    var f = folded(text), match = firstMatch(f.text, wanted, 0);
    var first = match ? f.from[match[0]] : 0;
    var start = cut(text, Math.max(0, first - 40)), end = cut(text, start + 140);
    var piece = text.slice(start, end);
    return (start > 0 ? "…" : "") + piece + (end < text.length ? "…" : "");
  }

  // A post's path as every page links it (paths.href): percent-encoded UTF-8, the characters a path
  // may hold kept. As it is, a `#` or `?` in it (a category `C#`) would end the path there, and a
  // `%` would be read as the start of an escape.
  function pathHref(path) {
    return encodeURIComponent(path).replace(/%(?:2F|3A|40|24|26|2B|2C|3B|3D)/g, decodeURIComponent);
  }

  function show(doc, wanted) {
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.className = "title";
    a.href = root.replace(/\/$/, "") + pathHref(doc.u); // documents hold the post's path; the site may live under a baseurl
    highlight(a, doc.t, wanted);
    var time = document.createElement("time");
    time.setAttribute("datetime", doc.d);
    time.textContent = doc.d.slice(0, 16).replace("T", " ");
    var p = document.createElement("p");
    p.className = "excerpt";
    highlight(p, snippet(doc.x, wanted), wanted);
    li.appendChild(a);
    li.appendChild(time);
    li.appendChild(p);
    results.appendChild(li);
  }

  function search(query) {
    var mine = ++generation;
    var wanted = terms(query);
    results.textContent = "";
    moreButton.hidden = true;
    if (!query.trim()) { status.textContent = ""; return Promise.resolve(); }
    if (!wanted.length || !queryTokens(query).length) {
      // Only letters, digits and CJK characters are indexed: a query of symbols or separators
      // (`？`, `"`) alone finds nothing.
      status.textContent = "请输入文字或数字：标点和符号不能单独搜索";
      return Promise.resolve();
    }
    status.textContent = "搜索中…";
    return candidates(query).then(function (ids) {
      var shown = 0, offset = 0;
      // One more screen of results, checking up to CHECK documents for it; then the reader may ask
      // for the next. "No results" only once every candidate has been checked. Asked for with the
      // button (`asked`), the focus moves to the first new result: the button is hidden meanwhile,
      // and a keyboard reader would otherwise be sent back to the top of the page.
      function more(asked) {
        // A later query owns the page now: an earlier one that answers late must not touch it.
        if (mine !== generation) return Promise.resolve();
        var wantedShown = shown + PAGE, checked = 0, before = results.children.length;
        moreButton.hidden = true;
        status.textContent = "搜索中…";
        function round() {
          var page = ids.slice(offset, offset + PAGE);
          offset += page.length;
          checked += page.length;
          return Promise.all(page.map(function (id) { return fetchJSON("search/doc/" + id + ".json", false).catch(function () { return null; }); }))
            .then(function (docs) {
              if (mine !== generation) return;
              docs.forEach(function (doc) {
                // The index finds every post holding all the query's tokens; show those holding the text itself.
                if (doc && contains(doc, wanted)) { show(doc, wanted); shown++; }
              });
              if (shown < wantedShown && offset < ids.length && checked < CHECK) return round();
              var left = ids.length - offset;
              if (!left) status.textContent = shown ? shown + " 条结果" : "没有找到结果";
              else if (shown) status.textContent = shown + "+ 条结果";
              else status.textContent = "前 " + offset + " 篇相关文章里没有找到，还有 " + left + " 篇未查";
              moreButton.textContent = shown ? "更多结果" : "继续查找";
              moreButton.hidden = left === 0;
              moreButton.onclick = function () { more(true); };
              if (!asked) return;
              var first = results.children[before];
              if (first) first.querySelector("a").focus();
              else if (!moreButton.hidden) moreButton.focus();
            });
        }
        return round();
      }
      return more();
    }).catch(function (error) {
      if (mine === generation) status.textContent = "搜索暂时不可用（" + error.message + "）";
    });
  }

  var timer = null;
  var initial = new URLSearchParams(location.search).get("q") || "";
  input.value = initial;
  search(initial);
  function typed(event) {
    // While an input method composes (pinyin `bei'xiang` before 北向 is chosen), the text is not
    // the query yet: search once it is committed (compositionend).
    if (event.isComposing) return;
    var url = new URL(location.href);
    url.searchParams.set("q", input.value);
    history.replaceState(null, "", url);
    generation++;  // results of an earlier query must not land after this one
    results.textContent = "";
    moreButton.hidden = true;
    status.textContent = input.value.trim() ? "搜索中…" : "";
    clearTimeout(timer);
    timer = setTimeout(function () { search(input.value); }, 120);
  }
  input.addEventListener("input", typed);
  input.addEventListener("compositionend", typed);
  document.getElementById("search-form").addEventListener("submit", function (event) {
    event.preventDefault();
    search(input.value);
  });
})();
