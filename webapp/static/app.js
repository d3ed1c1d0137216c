// Orderdock's only script. The Content-Security-Policy allows no inline script or handler
// (R-SEC-4), so every behaviour the pages need is here, attached to the document once: it holds
// for content htmx swaps in too.

function showError(text) {
  var box = document.getElementById("flashes");
  if (!box) return;
  var note = document.createElement("div");
  note.className = "flash flash-error";
  note.setAttribute("role", "alert");
  note.textContent = text;
  box.replaceChildren(note);
}

// htmx comes from its CDN, checked by its SRI hash (base.html). Where that did not run (no
// internet, the CDN blocked, a file that failed its hash), the same pinned file is loaded from
// this server, with the same hash. Deferred scripts run in order, so the CDN's has run or failed
// by now; a CDN that hangs instead of failing holds the page's live parts until the browser gives
// up on it. The copy is added once the page has loaded: htmx sets itself up on DOMContentLoaded,
// or at once when the document is complete; run in between, it would wait for an event already
// gone. The listeners below are on `document` and need no htmx to be attached.
(function loadHtmxFromThisServer() {
  var cdn = document.querySelector("script[data-fallback]");
  if (window.htmx || !cdn) return;
  function add() {
    var copy = document.createElement("script");
    copy.src = cdn.dataset.fallback;
    copy.integrity = cdn.integrity;
    copy.addEventListener("error", function () {
      showError("The page's live parts are off: its script (htmx) could not be loaded from its CDN nor from " +
        "this server. Reload the page; if this persists, tell your administrator.");
    });
    document.head.append(copy);
  }
  console.info("htmx did not load from " + cdn.src + "; loading this server's copy.");
  if (document.readyState === "complete") add();
  else window.addEventListener("load", add);
})();

// Show the server's message when an htmx request is refused. The answer is parsed into an inert
// document (DOMParser): nothing in it loads or runs, whatever it holds; only its text is shown.
document.addEventListener("htmx:responseError", function (event) {
  var xhr = event.detail.xhr;
  var answer = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
  var message = answer.querySelector(".error-message");
  showError(message ? message.textContent.trim()
    : "The server could not do that (" + xhr.status + "). Reload the page and try again.");
});

document.addEventListener("htmx:sendError", function () {
  showError("The server did not answer. Check your connection and try again.");
});

// A checkbox with data-select-all="NAME" ticks or clears every box named NAME in its form.
document.addEventListener("change", function (event) {
  var box = event.target;
  if (!box.matches || !box.matches("input[type=checkbox][data-select-all]") || !box.form) return;
  box.form.querySelectorAll("input[type=checkbox]").forEach(function (other) {
    if (other.name === box.dataset.selectAll) other.checked = box.checked;
  });
});

// "Go back" on an error page returns to the page before it; without history it follows its href.
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-history-back]");
  if (!link || window.history.length < 2) return;
  event.preventDefault();
  window.history.back();
});
