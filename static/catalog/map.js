/* The map of a relation page: the rows the page shows (its filters included), fetched from the API
   as GeoJSON and drawn with Leaflet. No tile server is needed: the default background is plain,
   with a graticule for orientation; PORTAL["MAP_TILE_URL"] adds a base map. The page works without
   this script (the GeoJSON download link stays). Values in popups are set as text, never HTML. */
(function () {
  "use strict";
  var canvas = document.getElementById("map-canvas");
  var status = document.getElementById("map-status");
  if (!canvas || !window.L || !window.fetch) {
    return;
  }

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function popupFor(properties) {
    var table = document.createElement("table");
    table.className = "map-popup";
    var names = Object.keys(properties || {});
    names.slice(0, 12).forEach(function (name) {
      var row = table.insertRow();
      var head = document.createElement("th");
      head.scope = "row";
      head.textContent = name;
      row.appendChild(head);
      var value = properties[name];
      var cell = row.insertCell();
      cell.textContent = value === null ? "null" : typeof value === "object" ? JSON.stringify(value) : String(value);
    });
    if (names.length > 12) {
      var more = table.insertRow().insertCell();
      more.colSpan = 2;
      more.textContent = "… and " + (names.length - 12) + " more columns";
    }
    return table;
  }

  function graticule() {
    var lines = [];
    for (var lon = -180; lon <= 180; lon += 30) {
      lines.push([[-85, lon], [85, lon]]);
    }
    for (var lat = -60; lat <= 60; lat += 30) {
      lines.push([[lat, -180], [lat, 180]]);
    }
    return L.polyline(lines, { color: "#9aa7b4", weight: 1, opacity: 0.6, interactive: false });
  }

  canvas.textContent = "";
  canvas.classList.add("map-live");
  // No fade: a popup is readable (full contrast) the moment it opens, for people and for axe.
  var map = L.map(canvas, { worldCopyJump: false, zoomSnap: 0.5, minZoom: 0, fadeAnimation: false });
  var tiles = canvas.getAttribute("data-tiles");
  if (tiles) {
    L.tileLayer(tiles, { attribution: canvas.getAttribute("data-attribution") || "", maxZoom: 19 }).addTo(map);
  } else {
    graticule().addTo(map);
  }
  map.setView([20, 0], 1);
  say("Loading the map data…");

  var shapeStyle = { color: "#0a4fa8", weight: 2, fillColor: "#0a4fa8", fillOpacity: 0.3 };
  var pointStyle = { radius: 4.5, color: "#ffffff", weight: 1, fillColor: "#0a4fa8", fillOpacity: 0.85 };
  function isPoint(feature) {
    var type = feature && feature.geometry && feature.geometry.type;
    return type === "Point" || type === "MultiPoint";
  }
  fetch(canvas.getAttribute("data-geojson"), { headers: { Accept: "application/geo+json" } })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("the API answered " + response.status);
      }
      return response.json();
    })
    .then(function (collection) {
      var drawn = 0;
      var layer = L.geoJSON(collection, {
        // GeoJSON layers restyle their circle markers too: points keep the point style.
        style: function (feature) { return isPoint(feature) ? pointStyle : shapeStyle; },
        pointToLayer: function (feature, latlng) { return L.circleMarker(latlng, pointStyle); },
        onEachFeature: function (feature, shape) {
          drawn += 1;
          shape.bindPopup(popupFor(feature.properties));
        }
      }).addTo(map);
      var features = (collection.features || []).length;
      var bounds = layer.getBounds();
      if (bounds.isValid()) {
        // Clear of the zoom buttons (top left) and the attribution (bottom right).
        // No zoom animation on load: the map opens where the data is.
        map.fitBounds(bounds, { paddingTopLeft: [56, 24], paddingBottomRight: [24, 40], maxZoom: 15, animate: false });
      }
      var missing = features - drawn;
      say(drawn === 0 ? "No row here has a location to draw."
        : drawn.toLocaleString("en") + " of " + features.toLocaleString("en") + " row" + (features === 1 ? "" : "s") + " drawn" +
          (missing > 0 ? " (" + missing + " without a location)." : "."));
      canvas.setAttribute("data-drawn", String(drawn));
    })
    .catch(function (error) {
      say("The map data could not be loaded: " + error.message + ".");
      canvas.setAttribute("data-drawn", "error");
    });
})();
