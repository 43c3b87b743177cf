// The import page: replace the live part every second while the import is queued or running.
(function () {
  "use strict";
  var box = document.getElementById("import-live");
  if (!box) return;
  var url = box.getAttribute("data-url");

  function active() {
    var inner = box.querySelector(".import-live");
    return inner && inner.getAttribute("data-active") === "true";
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { /* keep the last view; try again next tick */ })
      .then(schedule);
  }

  function schedule() {
    if (active()) window.setTimeout(refresh, 1000);
  }

  schedule();
})();
