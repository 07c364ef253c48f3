// Client-side search over the site's search index (no server). The query comes from the
// address (/search/?q=...), so a search can be linked and bookmarked.
(function () {
  "use strict";
  var script = document.currentScript;
  var manifestUrl = script.getAttribute("data-index");
  var input = document.getElementById("q");
  var results = document.getElementById("results");
  var status = document.getElementById("status");
  var posts = null;

  function load() {
    if (posts) return Promise.resolve(posts);
    return fetch(manifestUrl).then(function (r) { return r.json(); }).then(function (manifest) {
      return Promise.all(manifest.shards.map(function (s) {
        return fetch(s.url).then(function (r) { return r.json(); });
      }));
    }).then(function (shards) {
      posts = [].concat.apply([], shards.map(function (s) { return s.posts; }));
      return posts;
    });
  }

  function show(query) {
    var q = query.trim().toLowerCase();
    results.textContent = "";
    if (!q) { status.textContent = ""; return; }
    load().then(function (all) {
      var found = all.filter(function (p) {
        return p.title.toLowerCase().indexOf(q) >= 0 || p.tags.join(" ").toLowerCase().indexOf(q) >= 0;
      });
      found.sort(function (a, b) { return a.date < b.date ? 1 : -1; });
      status.textContent = found.length + " 条结果";
      found.slice(0, 100).forEach(function (p) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.className = "title";
        a.href = p.url;
        a.textContent = p.title;
        var time = document.createElement("time");
        time.textContent = p.date.slice(0, 16).replace("T", " ");
        li.appendChild(a);
        li.appendChild(time);
        results.appendChild(li);
      });
    });
  }

  var initial = new URLSearchParams(location.search).get("q") || "";
  input.value = initial;
  show(initial);
  input.addEventListener("input", function () {
    var url = new URL(location.href);
    url.searchParams.set("q", input.value);
    history.replaceState(null, "", url);
    show(input.value);
  });
})();
