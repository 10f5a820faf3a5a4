// Hobbyists' pages: copy buttons, "use my location", the model's defaults, the live uplink list.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var el = document.getElementById(b.dataset.copy);
      if (el && navigator.clipboard) { navigator.clipboard.writeText(el.textContent.trim()); b.textContent = "Copied"; }
    });
  });
  var here = document.getElementById("here");
  if (here && navigator.geolocation) {
    here.hidden = false;
    here.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (p) {
        document.getElementById("latitude").value = p.coords.latitude.toFixed(5);
        document.getElementById("longitude").value = p.coords.longitude.toFixed(5);
      });
    });
  }
  var table = document.getElementById("uplinks");
  if (table) {
    var body = table.querySelector("tbody");
    var refresh = function () {
      fetch(table.dataset.src, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (doc) {
          if (!doc) { return; }
          body.replaceChildren.apply(body, doc.uplinks.map(function (u) {
            var tr = document.createElement("tr");
            [u.time, u.f_cnt, u.f_port, u.rssi === null ? "—" : u.rssi, u.decoder, u.error].forEach(function (v) {
              var td = document.createElement("td"); td.textContent = String(v); tr.appendChild(td);
            });
            return tr;
          }));
        }).catch(function () {});
    };
    setInterval(refresh, 5000);
  }
});
