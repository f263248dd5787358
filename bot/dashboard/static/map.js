// The reports map: Leaflet (vendored), data embedded in the page as JSON (no extra
// request, nothing inline to allow in the Content Security Policy).
(function () {
  "use strict";
  var el = document.getElementById("map");
  var source = document.getElementById("map-data");
  if (!el || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var map = L.map(el, { attributionControl: true }).setView(data.center, 14);
  map.attributionControl.setPrefix(false);
  if (data.tiles) {
    // Tile URL from WARGA_MAP_TILE_URL; empty means no base map (offline, tests).
    L.tileLayer(data.tiles, { maxZoom: 19, attribution: data.attribution }).addTo(map);
  }
  var colours = { diterima: "#5f6b76", diverifikasi: "#1d4ed8", diproses: "#b7791f",
                  selesai: "#1b7f3b", ditolak: "#b3261e" };
  var bounds = [];
  data.points.forEach(function (p) {
    var marker = L.circleMarker([p.lat, p.lon], {
      radius: 8, weight: 2, color: "#fff", fillOpacity: 0.9,
      fillColor: colours[p.status] || "#0b6e99"
    }).addTo(map);
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = p.url;
    link.textContent = p.ticket;
    box.appendChild(link);
    [p.label, p.what, p.place].forEach(function (text) {
      var line = document.createElement("div");
      line.textContent = text;   // textContent: never HTML from residents' answers
      box.appendChild(line);
    });
    marker.bindPopup(box);
    var path = marker.getElement();
    if (path) { path.setAttribute("data-ticket", p.ticket); }
    bounds.push([p.lat, p.lon]);
  });
  if (bounds.length > 1) { map.fitBounds(bounds, { padding: [30, 30], maxZoom: 17, animate: false }); }
  else if (bounds.length === 1) { map.setView(bounds[0], 16, { animate: false }); }
  el.setAttribute("data-ready", String(data.points.length));
})();
