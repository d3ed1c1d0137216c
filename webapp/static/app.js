// Orderdock's only script: show the server's message when an htmx request is refused.
document.addEventListener("htmx:responseError", function (event) {
  var box = document.getElementById("flashes");
  if (!box) return;
  var holder = document.createElement("div");
  holder.innerHTML = event.detail.xhr.responseText;
  var message = holder.querySelector(".error-message");
  var note = document.createElement("div");
  note.className = "flash flash-error";
  note.setAttribute("role", "alert");
  note.textContent = message ? message.textContent : "The server could not do that (" + event.detail.xhr.status + "). Reload the page and try again.";
  box.replaceChildren(note);
});
document.addEventListener("htmx:sendError", function () {
  var box = document.getElementById("flashes");
  if (!box) return;
  var note = document.createElement("div");
  note.className = "flash flash-error";
  note.setAttribute("role", "alert");
  note.textContent = "The server did not answer. Check your connection and try again.";
  box.replaceChildren(note);
});
