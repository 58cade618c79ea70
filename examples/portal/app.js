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

  // Knowledge articles that may answer an incident's title, listed as the
  // caller types (without the script the form shows them as a step before
  // raising). Once a list came back for the title as it stands, the form
  // skips that step.
  var title = document.getElementById("short_description");
  var box = document.getElementById("suggestions");
  var seen = document.getElementById("seen_articles");
  if (title && box && seen && window.fetch) {
    var timer = null, asked = 0;
    var show = function (items) {
      box.textContent = "";
      if (!items.length) { return; }
      var p = document.createElement("p");
      p.id = "similar-note";
      p.textContent = "Articles that may help:";
      var ul = document.createElement("ul");
      ul.id = "similar";
      items.forEach(function (it) {
        var li = document.createElement("li"), a = document.createElement("a");
        a.href = it.url;
        a.textContent = it.number + " " + it.title;
        li.appendChild(a);
        ul.appendChild(li);
      });
      box.appendChild(p);
      box.appendChild(ul);
    };
    var ask = function () {
      var q = title.value.trim(), n = ++asked;
      if (q.length < 3) { show([]); seen.value = "1"; return; }
      fetch("/knowledge/suggest?q=" + encodeURIComponent(q), {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (res) { return res.ok ? res.json() : null; })
        .then(function (items) {
          if (n !== asked || !Array.isArray(items)) { return; }
          show(items);
          seen.value = "1";
        })
        .catch(function () {});
    };
    title.addEventListener("input", function () {
      seen.value = "";
      clearTimeout(timer);
      timer = setTimeout(ask, 250);
    });
  }
});
