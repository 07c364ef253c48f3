// On the 404 page only.
// - A folder asked for without its closing slash (/tags/A股, /emnews) is sent on to the folder,
//   when there is one. The edge cannot do it: /emnews may be a category's page (emnews/index.html)
//   or a post's address without its extension (emnews.html), and the edge function cannot look;
//   the 404 page is served only once neither exists, and asks.
// - Otherwise the page offers a search for the last part of the address. A section page goes
//   when its last current post leaves the front pages, while older posts still link to it
//   (/tags/贵州茅台/): the search finds those posts.
(function () {
  "use strict";
  // One leading slash: `//host/x` is a path of this site, but given to fetch() or location as it
  // is, an address on another host, which the page would ask and follow (the site's CSP stops the
  // asking; a copy served without it must not depend on that).
  var path = location.pathname.replace(/^\/+/, "/");
  var last = path.slice(path.lastIndexOf("/") + 1);

  function suggest() {
    var box = document.getElementById("suggest");
    // The trailing slashes dropped by counting them: `/\/+$/` tries again from every slash of a run
    // that does not end the path (`/a////…/x`), quadratic in its length.
    var end = path.length;
    while (end > 0 && path.charAt(end - 1) === "/") {
      end--;
    }
    var name = path.slice(0, end);
    name = name.slice(name.lastIndexOf("/") + 1).replace(/\.html?$/, "");
    try {
      name = decodeURIComponent(name);
    } catch (e) {
      return; // not an address this site makes
    }
    name = name.trim();
    if (!box || !name) {
      return;
    }
    var link = box.querySelector("a");
    link.href = box.getAttribute("data-search") + "?q=" + encodeURIComponent(name);
    link.textContent = name; // text, never markup: the address is anyone's to write
    box.hidden = false;
  }

  // A dot does not rule a folder out: tags and categories such as `09869.HK` have one.
  if (!last) {
    suggest();
    return;
  }
  fetch(path + "/", { method: "HEAD", credentials: "same-origin" }).then(
    function (answer) {
      if (answer.ok) {
        location.replace(path + "/" + location.search + location.hash);
      } else {
        suggest();
      }
    },
    suggest
  );
})();
