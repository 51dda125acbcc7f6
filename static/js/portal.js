// Lifeboat's few behaviours that need JavaScript. Loaded with a CSP nonce; nothing inline.
(function () {
  "use strict";

  // <button data-copy="text"> copies its text and says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // <form data-confirm="question"> asks before it is sent (Revoke and the like).
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // <span data-expires-at="ISO-8601"> shows the time left, updated every second.
  function tick() {
    document.querySelectorAll("[data-expires-at]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.getAttribute("data-expires-at")) - Date.now()) / 1000));
      var minutes = Math.floor(left / 60);
      var seconds = String(left % 60).padStart(2, "0");
      el.textContent = left > 0 ? minutes + ":" + seconds : "expired";
    });
  }
  setInterval(tick, 1000);

  // Times are shown in the browser's time zone: tell the portal which one, once (the
  // profile page can change it). portal/middleware.py ignores anything not an IANA name.
  if (!/(^|; )lifeboat-tz=/.test(document.cookie) && window.Intl) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) {
      document.cookie = "lifeboat-tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax" +
        (location.protocol === "https:" ? "; Secure" : "");
    }
  }
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSettle", tick);
})();
