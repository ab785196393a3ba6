// The console's live parts: one EventSource per page (same origin, the session cookie
// goes with it). The server sends each changed card already rendered; this replaces the
// card in place (an update, a sighting, a cancellation) or puts a new one first. The
// browser reconnects by itself with Last-Event-ID, so nothing is missed across a drop.
"use strict";
(function () {
  var body = document.body;
  var url = body.dataset.events;
  if (!url || !window.EventSource) return;
  var page = body.dataset.livePage;
  var after = body.dataset.after || "-1";
  var status = document.getElementById("live-status");
  var source = new EventSource(url + "?page=" + encodeURIComponent(page) + "&after=" + encodeURIComponent(after));
  source.addEventListener("card", function (event) {
    var card = JSON.parse(event.data);
    var list = document.querySelector('[data-live="' + card.target + '"]');
    if (!list) return;
    var holder = document.createElement(list.tagName === "UL" ? "ul" : "div");
    holder.innerHTML = card.html;
    var fresh = holder.firstElementChild;
    if (!fresh) return;
    fresh.classList.add("fresh");
    var held = document.getElementById(card.id);
    // Keep keyboard focus where it was when the card under it is replaced.
    var focused = held && held.contains(document.activeElement) ? document.activeElement.id : null;
    if (held) {
      held.replaceWith(fresh);
    } else {
      var empty = list.querySelector(".empty");
      if (empty) empty.remove();
      list.prepend(fresh);
    }
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    body.dataset.after = event.lastEventId;
    if (status) status.textContent = fresh.querySelector("h2") ? fresh.querySelector("h2").textContent.trim() : "";
  });
})();
