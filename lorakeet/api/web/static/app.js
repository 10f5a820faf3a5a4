// Lorakeet web page: progressive enhancement only (every page works without JavaScript).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select.autosubmit").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
  document.querySelectorAll("button.nojs").forEach(function (b) { b.hidden = true; });
});
