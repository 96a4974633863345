// Seek-on-click for the story page: a marker or note button plays the story's
// recording from its position. Plain script, no build step; the page works without
// it (the audio element has its own controls).
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-seek-ms]");
  if (!button) return;
  var audio = document.getElementById(button.getAttribute("data-player"));
  if (!audio) return;
  var seconds = Number(button.getAttribute("data-seek-ms")) / 1000;
  audio.currentTime = seconds;
  var playing = audio.play();
  if (playing && playing.catch) playing.catch(function () {});
  var status = document.getElementById("player-status");
  if (status) status.textContent = button.getAttribute("aria-label");
  var current = document.querySelector("button.seek[aria-current]");
  if (current) current.removeAttribute("aria-current");
  button.setAttribute("aria-current", "true");
});
