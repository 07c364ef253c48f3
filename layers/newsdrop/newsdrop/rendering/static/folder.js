// On the 404 page only. A folder asked for without its closing slash (/tags/A股, /emnews) is sent
// on to the folder, when there is one. The edge cannot do it: /emnews may be a category's page
// (emnews/index.html) or a post's address without its extension (emnews.html), and the edge
// function cannot look; the 404 page is served only once neither exists, and asks.
(function () {
  "use strict";
  var path = location.pathname;
  var last = path.slice(path.lastIndexOf("/") + 1);
  if (!last || last.indexOf(".") !== -1) {
    return;
  }
  fetch(path + "/", { method: "HEAD", credentials: "same-origin" }).then(
    function (answer) {
      if (answer.ok) {
        location.replace(path + "/" + location.search + location.hash);
      }
    },
    function () {}
  );
})();
