// The transcript on the story page (web/transcript.rs): saves corrections as a new
// revision (two leads at once: the server merges different passages, and answers 409
// with the current text when both changed the same one), and opens the player at the
// moment a search result names (#t=SECONDS&rec=RECORDING). Seeking on a passage's time
// is player.js's. Plain script, no build step.
"use strict";
(function () {
  function segmentsOf(form) {
    return Array.prototype.map.call(form.querySelectorAll("li.segment"), function (li) {
      var speaker = li.querySelector(".speaker");
      var s = {
        start_ms: Number(li.getAttribute("data-start-ms")),
        end_ms: Number(li.getAttribute("data-end-ms")),
        text: li.querySelector("textarea").value
      };
      if (speaker) s.speaker = speaker.textContent.replace(/:\s*$/, "");
      return s;
    });
  }

  function show(form, transcript) {
    form.setAttribute("data-revision", String(transcript.revision));
    var items = form.querySelectorAll("li.segment");
    if (items.length !== transcript.segments.length) { window.location.reload(); return; }
    transcript.segments.forEach(function (s, i) { items[i].querySelector("textarea").value = s.text; });
  }

  function save(form) {
    var status = form.querySelector(".save-status");
    var body = {
      base_revision: Number(form.getAttribute("data-revision")),
      segments: segmentsOf(form),
      reviewed: form.querySelector("input[name=reviewed]").checked
    };
    status.textContent = "Saving…";
    fetch("/lead/recordings/" + form.getAttribute("data-recording") + "/transcript", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (json) { return { status: r.status, json: json }; });
    }).then(function (res) {
      if (res.status === 200) {
        show(form, res.json);
        status.textContent = "Saved (revision " + res.json.revision + ").";
      } else if (res.status === 409) {
        show(form, res.json.current);
        status.textContent = "Someone else changed the same passages meanwhile. Their text is shown now; make your correction again.";
      } else {
        status.textContent = "Not saved: " + (res.json.message || res.status);
      }
    }).catch(function () { status.textContent = "Not saved: the server could not be reached."; });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.save-transcript");
    if (button) save(button.closest("form.transcript-editor"));
  });
  document.addEventListener("keydown", function (event) {
    // Ctrl+S / Cmd+S in a passage saves.
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      var form = event.target.closest && event.target.closest("form.transcript-editor");
      if (form) { event.preventDefault(); save(form); }
    }
  });

  function openAtMoment() {
    var hash = window.location.hash.replace(/^#/, "");
    var params = new URLSearchParams(hash);
    var t = Number(params.get("t"));
    var rec = params.get("rec");
    if (!rec || !isFinite(t)) return;
    var audio = document.getElementById("player-" + rec);
    if (!audio) return;
    var seek = function () {
      audio.currentTime = t;
      var playing = audio.play();
      if (playing && playing.catch) playing.catch(function () {});
    };
    if (audio.readyState >= 1) seek(); else audio.addEventListener("loadedmetadata", seek, { once: true });
    var card = document.getElementById("card-transcript-" + rec);
    if (card) card.scrollIntoView();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", openAtMoment);
  else openAtMoment();
})();
