// The portal's only script; every page works without it.
document.addEventListener("DOMContentLoaded", function () {
  // Focus the first field a refused form marked, so keyboard and screen
  // reader users land on the problem (aria-invalid is set by the server).
  var bad = document.querySelector("[aria-invalid=true]");
  if (bad) { bad.focus(); }

  // A person who has not chosen a time zone is offered the browser's in
  // the settings form; it is stored only when they save it.
  var tz = document.querySelector("input[data-suggest-browser]");
  if (tz && !tz.value && window.Intl) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) {
      tz.value = zone;
      var hint = document.getElementById("tz-browser");
      if (hint) { hint.textContent = "Filled in from your browser: save to use it."; }
    }
  }
});
