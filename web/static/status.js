// Live updates for the status page: the server sends the page's live part,
// already escaped by its templates, whenever it changes. Without this
// script the page is the same, just not live.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var src = new EventSource(live.getAttribute("data-events"));
  var note = document.getElementById("liveness");
  src.onmessage = function (e) {
    var t = document.createElement("template");
    t.innerHTML = e.data;
    var next = t.content.getElementById("live");
    if (next) { live.replaceWith(next); live = next; }
    if (note) { note.textContent = "Live."; }
  };
  src.onerror = function () {
    if (note) { note.textContent = "Live updates interrupted; retrying."; }
  };
})();
