/* geotrans's map viewer: each map's tiles over its scene's, a swipe or an opacity slider, the legend, the
   model, licence and attribution, a scale bar. Reads window.GEOTRANS_SITE (site.js); XYZ tiles need no server,
   PMTiles archives are read by HTTP range requests (pmtiles.js). */
(function () {
  "use strict";
  var site = window.GEOTRANS_SITE || {maps: []};
  var EMPTY = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
  // whole zooms only: a tile drawn at a fractional zoom is scaled, and its edges show as seams
  var map = L.map("map", {zoomSnap: 1, attributionControl: true});
  L.control.scale({metric: true, imperial: false}).addTo(map);
  var line = L.DomUtil.create("div", "", map.getContainer());
  line.id = "swipe-line";
  var slider = document.getElementById("slider");
  var layers = {map: null, scene: null};
  var current = null;

  function mode() { return document.querySelector("input[name=mode]:checked").value; }

  function tiles(entry, kind) {
    var bounds = L.latLngBounds([entry.bounds[1], entry.bounds[0]], [entry.bounds[3], entry.bounds[2]]);
    var options = {
      minZoom: 0, maxZoom: entry.maxzoom + 3, maxNativeZoom: entry.maxzoom, minNativeZoom: entry.minzoom,
      bounds: bounds, errorTileUrl: EMPTY, tileSize: 256, noWrap: true,
      attribution: kind === "map" ? "map: " + (entry.model || "not by geotrans") + " (licence in the panel)" : ""
    };
    if (entry.format === "pmtiles") {  // a missing tile is hidden: empty, as with XYZ's errorTileUrl
      return pmtiles.leafletRasterLayer(new pmtiles.PMTiles(entry.folder + "/" + kind + ".pmtiles"), options);
    }
    return L.tileLayer(entry.folder + "/" + kind + "/{z}/{x}/{y}.png", options);
  }

  // PMTiles are read by HTTP range requests, which file:// does not answer: say how to serve the site.
  function needsServer(entry) {
    var note = document.getElementById("serve-note");
    var blocked = entry.format === "pmtiles" && window.location.protocol === "file:";
    note.style.display = blocked ? "block" : "none";
    return blocked;
  }

  function update() {
    var pane = layers.map && layers.map.getContainer();
    if (!pane) { return; }
    var size = map.getSize(), value = Number(slider.value) / 100;
    if (mode() === "swipe") {
      var nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(size);
      var x = map.containerPointToLayerPoint([size.x * value, 0]).x;
      pane.style.clip = "rect(" + [nw.y, se.x, se.y, x].join("px,") + "px)";
      layers.map.setOpacity(1);
      line.style.display = "block";
      line.style.left = (size.x * value - 1) + "px";
    } else {
      pane.style.clip = "auto";
      layers.map.setOpacity(value);
      line.style.display = "none";
    }
  }

  function show(index, view) {
    var entry = site.maps[index];
    current = entry;
    Object.keys(layers).forEach(function (k) { if (layers[k]) { map.removeLayer(layers[k]); layers[k] = null; } });
    if (needsServer(entry)) {
      line.style.display = "none";
      map.fitBounds([[entry.bounds[1], entry.bounds[0]], [entry.bounds[3], entry.bounds[2]]]);
      describe(entry);
      return;
    }
    if (entry.tiles.scene) { layers.scene = tiles(entry, "scene").addTo(map); }
    layers.map = tiles(entry, "map").addTo(map);
    layers.map.on("load", update);
    if (view && view.z !== undefined) {
      map.setView([view.lat, view.lon], view.z, {animate: false});
    } else {
      map.fitBounds([[entry.bounds[1], entry.bounds[0]], [entry.bounds[3], entry.bounds[2]]]);
    }
    describe(entry);
    update();
  }

  function text(tag, value, cls) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (cls) { node.className = cls; }
    return node;
  }

  function percent(share) { return share < 0.001 && share > 0 ? "<0.1%" : (100 * share).toFixed(1) + "%"; }

  function metres(m) { return m < 10 ? m.toFixed(2) + " m" : m.toFixed(0) + " m"; }

  function describe(entry) {
    var about = document.getElementById("about");
    about.innerHTML = "";
    about.appendChild(text("p", "Model: " + (entry.model || "unknown (not a map geotrans wrote)")));
    if (entry.licence) { about.appendChild(text("p", "Licence: " + entry.licence)); }
    if (entry.attribution) { about.appendChild(text("p", entry.attribution, "small")); }
    if (entry.expect) { about.appendChild(text("p", "What to expect: " + entry.expect, "warning")); }
    var legend = document.getElementById("legend");
    legend.innerHTML = "";
    entry.legend.forEach(function (item) {
      var li = document.createElement("li"), swatch = text("span", "", "swatch");
      swatch.style.background = "rgb(" + item.rgb.join(",") + ")";
      li.appendChild(swatch);
      var share = item.share === null || item.share === undefined ? "" : " (" + percent(item.share) + " of the map)";
      li.appendChild(text("span", item.name + share + (item.means ? ": " + item.means : "")));
      legend.appendChild(li);
    });
    if (!entry.legend.length) { legend.appendChild(text("li", "no legend: the map carries no geotrans tags")); }
    var figures = document.getElementById("figures");
    figures.innerHTML = "";
    var scene = entry.scene_facts;
    [["size", entry.size_px[0] + " x " + entry.size_px[1] + " px"],
     ["pixel", entry.pixel + (entry.ground_m ? " (" + metres(entry.ground_m) + " on the ground)" : "")],
     ["CRS", entry.crs], ["zooms", entry.minzoom + "-" + entry.maxzoom],
     ["tiles", entry.tiles.map + (entry.tiles.scene ? " + " + entry.tiles.scene + " of the scene" : "") +
      " (" + (entry.format || "xyz") + ")"],
     ["scene", entry.scene || "not on this site"]].concat(scene ? [
       ["scene size", scene.size_px[0] + " x " + scene.size_px[1] + " px, " + scene.dtype],
       ["scene pixel", scene.ground_m ? metres(scene.ground_m) + " on the ground" : "not georeferenced"],
       ["read as", scene.bands]] : []).forEach(function (row) {
      figures.appendChild(text("dt", row[0]));
      figures.appendChild(text("dd", String(row[1])));
    });
  }

  var select = document.getElementById("maps");
  site.maps.forEach(function (entry, i) { select.appendChild(new Option(entry.name, String(i))); });
  select.addEventListener("change", function () { show(Number(select.value)); });
  slider.addEventListener("input", update);
  document.querySelectorAll("input[name=mode]").forEach(function (r) { r.addEventListener("change", update); });
  map.on("move zoom resize viewreset zoomend moveend", update);
  window.geotransViewer = {map: map, show: show, update: update, current: function () { return current; }};
  // A view in the address: index.html#map=0&z=17&lat=..&lon=..&mode=swipe&at=50 (a shared or tested view).
  var view = {};
  window.location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
    var kv = pair.split("=");
    if (kv.length === 2) { view[kv[0]] = kv[0] === "mode" ? kv[1] : Number(kv[1]); }
  });
  if (view.mode) { document.querySelector("input[name=mode][value=" + view.mode + "]").checked = true; }
  if (view.at !== undefined) { slider.value = String(view.at); }
  var first = Math.min(Math.max(0, view.map || 0), Math.max(0, site.maps.length - 1));
  select.value = String(first);
  if (site.maps.length) { show(first, view); }
})();
