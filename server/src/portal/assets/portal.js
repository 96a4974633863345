// The receipt's link carries the storyteller's code after "#": a browser never sends
// that part to the server nor in Referer. This reads it into the form, takes it out of
// the address bar and history, and sends the form (a POST). Without script, the
// storyteller types the code from the receipt.
(function () {
  function sendCodeFromLink() {
    var code = decodeURIComponent((window.location.hash || "").slice(1));
    if (!/^[0-9A-Za-z\- ]{16,40}$/.test(code)) {
      return;
    }
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    var input = document.getElementById("code");
    var form = document.getElementById("code-form");
    if (!input || !form) {
      return;
    }
    input.value = code;
    form.submit();
  }
  // A link opened on the entry page itself changes only the fragment.
  window.addEventListener("hashchange", sendCodeFromLink);
  sendCodeFromLink();
})();
