// The rollout page: replace the live fragment every few seconds while the rollout is active.
(function () {
  "use strict";
  var box = document.getElementById("rollout-live");
  if (!box) return;
  var url = box.getAttribute("data-url");
  var every = 2000;

  function active() {
    var inner = box.querySelector(".rollout-live");
    return inner && inner.getAttribute("data-active") === "true";
  }

  function busy() {
    // Never swap the fragment under somebody typing a reject reason.
    var el = document.activeElement;
    return el && box.contains(el) && el.tagName === "INPUT" && el.value;
  }

  function refresh() {
    if (busy()) return schedule();
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { /* keep the last view; try again next tick */ })
      .then(schedule);
  }

  function schedule() {
    if (active()) window.setTimeout(refresh, every);
  }

  schedule();
})();
