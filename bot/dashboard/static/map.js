// The reports map: Leaflet (vendored), data embedded in the page as JSON (no extra
// request, nothing inline to allow in the Content Security Policy). A pin's fill is its
// problem, its ring its status; many pins close together on screen become one numbered
// circle (a plain grid on the screen, redone at every zoom). Without a tile server the
// pins sit on a plain background with latitude/longitude lines.
(function () {
  "use strict";
  var el = document.getElementById("map");
  var source = document.getElementById("map-data");
  if (!el || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var CELL = 56;        // px: pins nearer than this on screen share a circle
  var map = L.map(el, { attributionControl: true, maxZoom: 19 }).setView(data.center, 14);
  map.attributionControl.setPrefix(false);
  L.control.scale({ imperial: false }).addTo(map);
  var tiles = null;
  if (data.tiles) {
    // Tile URL from WARGA_MAP_TILE_URL; empty means no base map (offline, tests).
    tiles = L.tileLayer(data.tiles, { maxZoom: 19, attribution: data.attribution }).addTo(map);
  }
  var colours = data.colours;
  var layer = L.layerGroup().addTo(map);

  function text(parent, tag, value, cls) {
    var node = document.createElement(tag);
    node.textContent = value;   // textContent: never HTML from residents' answers
    if (cls) { node.className = cls; }
    parent.appendChild(node);
    return node;
  }

  function popup(p) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = p.url;
    link.textContent = p.ticket;
    box.appendChild(link);
    [p.label, p.what, p.place, p.coords].forEach(function (line) { text(box, "div", line); });
    return box;
  }

  function pin(p) {
    var marker = L.circleMarker([p.lat, p.lon], {
      radius: 8, weight: 3, fillOpacity: 0.95,
      color: colours.status[p.status] || "#fff",
      fillColor: colours.category[p.category] || colours.category.other
    }).addTo(layer);
    marker.bindPopup(popup(p));
    var path = marker.getElement();
    if (path) {
      path.setAttribute("data-ticket", p.ticket);
      path.setAttribute("data-category", p.category);
      path.setAttribute("data-status", p.status);
    }
  }

  function cluster(group) {
    var lat = 0, lon = 0;
    group.forEach(function (p) { lat += p.lat; lon += p.lon; });
    var icon = L.divIcon({ className: "map-cluster", iconSize: [34, 34],
                           html: String(group.length) });
    var marker = L.marker([lat / group.length, lon / group.length], { icon: icon,
      keyboard: true, title: String(group.length) }).addTo(layer);
    marker.getElement().setAttribute("data-count", String(group.length));
    marker.on("click", function () {
      var bounds = L.latLngBounds(group.map(function (p) { return [p.lat, p.lon]; }));
      map.fitBounds(bounds, { padding: [40, 40], maxZoom: 19, animate: false });
    });
  }

  function draw() {
    layer.clearLayers();
    var zoom = map.getZoom();
    if (data.points.length < data.cluster_from || zoom >= map.getMaxZoom()) {
      data.points.forEach(pin);
      return;
    }
    var cells = {};
    data.points.forEach(function (p) {
      var at = map.project([p.lat, p.lon], zoom);
      var key = Math.floor(at.x / CELL) + ":" + Math.floor(at.y / CELL);
      (cells[key] = cells[key] || []).push(p);
    });
    Object.keys(cells).forEach(function (key) {
      var group = cells[key];
      if (group.length === 1) { pin(group[0]); } else { cluster(group); }
    });
  }

  // Latitude/longitude lines at a round step, for a map with no base map to read.
  var grid = L.layerGroup().addTo(map);
  function graticule() {
    grid.clearLayers();
    var b = map.getBounds();
    var span = Math.max(b.getNorth() - b.getSouth(), b.getEast() - b.getWest());
    var step = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]
      .filter(function (s) { return span / s <= 8; })[0] || 1;
    var digits = Math.max(0, Math.ceil(-Math.log10(step)));
    var style = { color: "#9aa7b2", weight: 1, interactive: false, className: "graticule" };
    var lat, lon;
    for (lat = Math.ceil(b.getSouth() / step) * step; lat <= b.getNorth(); lat += step) {
      L.polyline([[lat, b.getWest()], [lat, b.getEast()]], style).addTo(grid);
      L.marker([lat, b.getWest()], { interactive: false, keyboard: false,
        icon: L.divIcon({ className: "graticule-label", html: lat.toFixed(digits),
                          iconSize: [60, 14], iconAnchor: [-2, 14] }) }).addTo(grid);
    }
    for (lon = Math.ceil(b.getWest() / step) * step; lon <= b.getEast(); lon += step) {
      L.polyline([[b.getSouth(), lon], [b.getNorth(), lon]], style).addTo(grid);
      L.marker([b.getSouth(), lon], { interactive: false, keyboard: false,
        icon: L.divIcon({ className: "graticule-label", html: lon.toFixed(digits),
                          iconSize: [70, 14], iconAnchor: [-2, 16] }) }).addTo(grid);
    }
  }

  function legend() {
    var box = document.getElementById("map-legend");
    if (!box || !data.legend) { return; }
    [["category", data.legend.titles[0]], ["status", data.legend.titles[1]]].forEach(
      function (part) {
        text(box, "h2", part[1]);
        var list = text(box, "ul", "", "legend legend-" + part[0]);
        data.legend[part[0]].forEach(function (entry) {
          var item = text(list, "li", "");
          var swatch = text(item, "span", "", part[0] === "status" ? "swatch ring" : "swatch");
          // Set through the DOM, not a style attribute: the CSP allows no inline styles.
          if (part[0] === "status") { swatch.style.borderColor = entry[1]; }
          else { swatch.style.backgroundColor = entry[1]; }
          text(item, "span", entry[0]);
        });
      });
    if (data.points.length >= data.cluster_from) {
      var note = text(box, "p", data.legend.titles[2], "muted");
      var sample = document.createElement("span");
      sample.className = "map-cluster sample";
      sample.textContent = "5";
      note.insertBefore(sample, note.firstChild);
    }
    box.hidden = false;
  }

  var bounds = data.points.map(function (p) { return [p.lat, p.lon]; });
  if (bounds.length > 1) { map.fitBounds(bounds, { padding: [30, 30], maxZoom: 17, animate: false }); }
  else if (bounds.length === 1) { map.setView(bounds[0], 16, { animate: false }); }
  draw();
  map.on("zoomend", draw);
  // No base map, or its server cannot be reached: the plain background, the lines, the
  // note saying so, and the list of pins open.
  var plain = false;
  function withoutTiles() {
    if (plain) { return; }
    plain = true;
    el.classList.add("plain");
    el.setAttribute("data-plain", "1");
    var note = document.getElementById("map-offline");
    if (note) { note.hidden = false; }
    var list = document.getElementById("map-list");
    if (list) { list.open = true; }
    graticule();
    map.on("moveend", graticule);
  }
  if (tiles) { tiles.on("tileerror", withoutTiles); } else { withoutTiles(); }
  legend();
  el.setAttribute("data-ready", String(data.points.length));
})();
