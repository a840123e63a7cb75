// Small progressive enhancements for every page; everything works without JavaScript too.
(function () {
  "use strict";
  // A select marked autosubmit applies its choice at once (its button remains for no-JS use).
  document.querySelectorAll("select.autosubmit").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
    var btn = sel.form.querySelector("button");
    if (btn) { btn.classList.add("js-hidden"); }
  });
})();
