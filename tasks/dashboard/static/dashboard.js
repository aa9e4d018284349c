// The dashboard's only script: every 2 s, fetch the page's live block as JSON and swap it in, unless the user
// is in the middle of something there (a checked box, a focused field). Forms with data-confirm ask first.
(function () {
  "use strict";
  var PERIOD_MS = 2000;
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  var url = document.body.getAttribute("data-live");

  function busy() {
    if (!live) { return true; }
    if (live.querySelector("input[type=checkbox]:checked")) { return true; }
    var active = document.activeElement;
    return active !== null && live.contains(active) && active.tagName !== "BODY" && active.tagName !== "A";
  }

  function show(text, bad) {
    if (!status) { return; }
    status.textContent = text;
    status.className = bad ? "status bad" : "status";
  }

  function refresh() {
    if (busy() || document.hidden) { return; }
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (body) {
        if (!busy()) {
          live.innerHTML = body.html;
          live.setAttribute("data-updated", String(body.at));
        }
        show("live " + new Date().toLocaleTimeString(), false);
      })
      .catch(function (error) { show("not updating: " + error.message, true); });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.getAttribute("data-confirm")) || (form.getAttribute && form.getAttribute("data-confirm"));
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  if (live && url) { window.setInterval(refresh, PERIOD_MS); }
}());
