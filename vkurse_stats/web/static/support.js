// Support pages: suggestions for company fields, fetched from the server as one types (a
// platform may hold thousands of companies, so no page lists them all), and fields whose
// whole value is selected on focus so the list of suggestions opens in full. Without
// JavaScript the fields are plain text inputs that the server checks.
(function () {
  "use strict";
  var LIMIT_MS = 150;

  function fill(list, companies) {
    list.textContent = "";
    companies.forEach(function (c) {
      var opt = document.createElement("option");
      opt.value = c.id;
      opt.label = c.name === c.id ? c.id : c.name + " (" + c.id + ")";
      list.appendChild(opt);
    });
  }

  document.querySelectorAll("input[data-company-options]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    var asked = null;
    function suggest() {
      var q = input.value.trim();
      if (q === asked) { return; }
      asked = q;
      fetch("/support/company-options?q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {companies: []}; })
        .then(function (body) { if (asked === q) { fill(list, body.companies); } })
        .catch(function () { asked = null; });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(suggest, LIMIT_MS);
    });
    input.addEventListener("focus", suggest);
  });

  document.querySelectorAll("input[data-select-on-focus]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
})();
