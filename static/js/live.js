// Live parts of a page: each element with data-live-url is replaced by a fresh copy of its
// fragment every data-live-every milliseconds while the fragment says data-active="true",
// never under somebody typing in it. Without JavaScript the page is complete as served.
(function () {
  "use strict";

  function watch(box) {
    var url = box.getAttribute("data-live-url");
    var every = parseInt(box.getAttribute("data-live-every"), 10) || 2000;

    function active() {
      var inner = box.querySelector("[data-active]");
      return inner && inner.getAttribute("data-active") === "true";
    }

    function busy() {
      var el = document.activeElement;
      return el && box.contains(el) && el.tagName === "INPUT" && el.value;
    }

    function refresh() {
      if (busy()) return schedule();
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) {
          if (r.redirected) { window.location.reload(); return Promise.reject(r.status); }
          return r.ok ? r.text() : Promise.reject(r.status);
        })  // redirected: signed out meanwhile, so the whole page goes to the sign-in
        .then(function (html) { box.innerHTML = html; })
        .catch(function () { /* keep the last view; try again next tick */ })
        .then(schedule);
    }

    function schedule() {
      if (active()) window.setTimeout(refresh, every);
    }

    schedule();
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-live-url]"), watch);
})();
