// Focus the first field a refused form marked, so keyboard and screen
// reader users land on the problem (aria-invalid is set by the server).
document.addEventListener("DOMContentLoaded", function () {
  var bad = document.querySelector("[aria-invalid=true]");
  if (bad) { bad.focus(); }
});
