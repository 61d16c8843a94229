/* The map of a relation page, drawn with Leaflet. Where the API has vector tiles (PostGIS), every
   row the page's filters select is drawn from them (Leaflet.VectorGrid), and the first rows of the
   GeoJSON only place the view; without tiles, those first rows are drawn as GeoJSON. Under the data,
   land and country borders from Natural Earth (world-atlas, read with topojson-client), served by
   the portal itself: no tile server is contacted unless PORTAL["MAP_TILE_URL"] names one, which then
   replaces them. The page works without this script (the GeoJSON download link stays); keyboard
   and screen reader users have the preview table. Values in popups are set as text, never HTML. */
(function () {
  "use strict";
  var canvas = document.getElementById("map-canvas");
  var status = document.getElementById("map-status");
  if (!canvas || !window.L || !window.fetch) {
    return;
  }
  // The Natural Earth scale for a zoom: 1:110m is as fine as the screen below zoom 4, 1:50m below 7;
  // from 7 on (a region, a city) 1:10m, fetched only when someone zooms that far (0.8 MB with brotli).
  var SCALES = [[7, "10m"], [4, "50m"], [0, "110m"]];
  var FIT = { paddingTopLeft: [56, 24], paddingBottomRight: [24, 40], animate: false,
              maxZoom: Number(canvas.getAttribute("data-fit-max-zoom")) || 15 }; // an OGC item page: less
  var POPUP = { minWidth: 200, maxWidth: 360 }; // wide enough that a column's name never breaks
  var NATURAL_EARTH = '<a href="https://www.naturalearthdata.com/">Made with Natural Earth</a>';

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function getJSON(url, accept) {
    return fetch(url, { headers: { Accept: accept || "application/json" } }).then(function (response) {
      if (!response.ok) {
        throw new Error("the server answered " + response.status);
      }
      return response.json();
    });
  }

  // --- popups and row links ------------------------------------------------------------------------

  // A path segment as the portal writes it (autoapi/schema/naming.py encode_segment): every byte of the
  // UTF-8 text outside A-Z a-z 0-9 _ - becomes ~XX, and the empty string is "~".
  function tildeEncode(text) {
    if (text === "") {
      return "~";
    }
    var out = "";
    new TextEncoder().encode(text).forEach(function (byte) {
      var char = String.fromCharCode(byte);
      out += /[A-Za-z0-9_-]/.test(char) ? char : "~" + (byte < 16 ? "0" : "") + byte.toString(16).toUpperCase();
    });
    return out;
  }

  // A key value as the catalog writes it in a row URL (catalog/present.py key_text).
  function keyText(value) {
    if (typeof value === "boolean") {
      return value ? "true" : "false";
    }
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  // The feature's row page, when the relation has a key and the feature carries all of it.
  function rowUrl(properties) {
    var key = JSON.parse(canvas.getAttribute("data-key") || "[]");
    if (!key.length || key.some(function (name) { return properties[name] === undefined || properties[name] === null; })) {
      return null;
    }
    var values = key.map(function (name) { return tildeEncode(keyText(properties[name])); });
    return canvas.getAttribute("data-row-base") + values.join(",") + "/";
  }

  function popupFor(properties) {
    var box = document.createElement("div");
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
    box.appendChild(table);
    var url = rowUrl(properties || {});
    if (url) {
      var link = document.createElement("a");
      link.className = "map-row-link";
      link.href = url;
      link.textContent = "This row's page";
      box.appendChild(link);
    }
    return box;
  }

  // --- the base map --------------------------------------------------------------------------------

  function graticule(pane) {
    var lines = [];
    for (var lon = -180; lon <= 180; lon += 30) {
      lines.push([[-85, lon], [85, lon]]);
    }
    for (var lat = -60; lat <= 60; lat += 30) {
      lines.push([[lat, -180], [lat, 180]]);
    }
    return L.polyline(lines, { pane: pane, color: "#9aa7b4", weight: 1, opacity: 0.5, interactive: false });
  }

  // Natural Earth cuts nothing at the antimeridian: Fiji's and Chukotka's rings go from 180 to -180
  // and back, which a flat map draws as a stripe across the world. Such a ring (or line) is made
  // continuous, drawn past 180. A ring that crosses once goes round a pole (Antarctica): left as is,
  // its closing edge runs along the pole, off the Mercator map.
  function unwrap(points, isRing) {
    var jumps = 0;
    for (var i = 1; i < points.length; i += 1) {
      jumps += Math.abs(points[i][0] - points[i - 1][0]) > 180 ? 1 : 0;
    }
    if (jumps === 0 || (isRing && jumps % 2 === 1)) {
      return points;
    }
    var shift = 0;
    var continuous = points.map(function (point, index) {
      var step = index === 0 ? 0 : point[0] - points[index - 1][0];
      shift += step > 180 ? -360 : step < -180 ? 360 : 0;
      return [point[0] + shift, point[1]];
    });
    // Started on the far side (Chukotka rather than Europe): the whole ring comes back east.
    var west = Math.min.apply(null, continuous.map(function (point) { return point[0]; }));
    return west < -180 ? continuous.map(function (point) { return [point[0] + 360, point[1]]; }) : continuous;
  }

  function unwrapped(geometry) {
    var c = geometry.coordinates;
    var rings = function (polygon) { return polygon.map(function (ring) { return unwrap(ring, true); }); };
    var lines = { Polygon: function () { return rings(c); },
      MultiPolygon: function () { return c.map(rings); },
      MultiLineString: function () { return c.map(function (line) { return unwrap(line, false); }); } };
    return lines[geometry.type] ? { type: geometry.type, coordinates: lines[geometry.type]() } : geometry;
  }

  // Land with its coastline, and the borders between countries (each drawn once, from the topology).
  function countries(topology, renderer) {
    var land = topojson.feature(topology, topology.objects.land);
    (land.features || [land]).forEach(function (feature) { feature.geometry = unwrapped(feature.geometry); });
    var borders = unwrapped(topojson.mesh(topology, topology.objects.countries, function (a, b) { return a !== b; }));
    return L.layerGroup([
      L.geoJSON(land, { renderer: renderer, interactive: false, attribution: NATURAL_EARTH,
        style: { color: "#8a9a8c", weight: 1, fillColor: "#f4f1e8", fillOpacity: 1 } }),
      L.geoJSON(borders, { renderer: renderer, interactive: false,
        style: { color: "#a89f91", weight: 0.8, dashArray: "3 2", fill: false } })
    ]);
  }

  // Natural Earth at the scale the zoom asks for, each scale fetched once, when first needed.
  function naturalEarth(map, pane) {
    var scales = { "110m": canvas.getAttribute("data-basemap"), "50m": canvas.getAttribute("data-basemap-detail"),
      "10m": canvas.getAttribute("data-basemap-fine") };
    var layers = {};
    var renderer = L.svg({ pane: pane });
    function show() {
      var zoom = map.getZoom();
      var wanted = SCALES.filter(function (scale) { return zoom >= scale[0] && scales[scale[1]]; })[0][1];
      if (!layers[wanted]) {
        layers[wanted] = "loading";
        getJSON(scales[wanted]).then(function (topology) {
          layers[wanted] = countries(topology, renderer);
          show();
        }).catch(function () { delete layers[wanted]; });
      }
      if (layers[wanted] === "loading") {
        return; // the other scale stays until this one is here
      }
      Object.keys(layers).forEach(function (scale) {
        if (layers[scale] !== "loading") {
          (scale === wanted ? map.addLayer : map.removeLayer).call(map, layers[scale]);
        }
      });
      canvas.setAttribute("data-basemap-drawn", wanted);
    }
    map.on("zoomend", show);
    show();
  }

  function baseMap(map) {
    var tiles = canvas.getAttribute("data-tiles");
    if (tiles) {
      L.tileLayer(tiles, { attribution: canvas.getAttribute("data-attribution") || "", maxZoom: 19 }).addTo(map);
      return;
    }
    // Its own pane, under the tile pane where VectorGrid draws the data.
    map.createPane("basemap").style.zIndex = 150;
    if (canvas.getAttribute("data-basemap") && window.topojson) {
      naturalEarth(map, "basemap");
    }
    graticule("basemap").addTo(map);
  }

  // --- the data: vector tiles ------------------------------------------------------------------------

  // VectorGrid 1.3.0's canvas click handler calls L.DomEvent.fakeStop, gone since Leaflet 1.8, and
  // Leaflet's own dispatch then asks its point symbols for a latitude/longitude they do not have
  // (Leaflet.VectorGrid issues #274 and #281), and its hit test measures the click at the map's zoom,
  // not the tile's. So a click on a feature is found and stopped here, and fired on the feature (and
  // from it on the tile layer) with the clicked position.
  function patchVectorGridClicks() {
    L.Canvas.Tile.include({
      _onClick: function (e) {
        if (e.type !== "click") {
          return; // other buttons and double clicks go to the map (a double click zooms)
        }
        // In the tile's own pixels, at the tile's zoom: the map's may be between two (zoomSnap 0.5).
        var latlng = this._map.mouseEventToLatLng(e);
        var point = this._map.project(latlng, this._tileCoord.z).subtract(this._tileCoord.scaleBy(this._size));
        var clicked = null;
        for (var id in this._layers) {
          var layer = this._layers[id];
          if (layer.options.interactive && layer._containsPoint(point) && !this._map._draggableMoved(layer)) {
            clicked = layer;
          }
        }
        if (clicked) {
          L.DomEvent.stop(e); // the map's own click would close the popup at once
          clicked.fire("click", { latlng: latlng, originalEvent: e }, true);
        }
      }
    });
  }

  // Smaller marks further out, where a tile may hold thousands of rows: they show where rows are
  // dense instead of one blot (from zoom 9, a row is a mark one can click).
  var TILE_STYLES = [
    [9, { radius: 4.5, color: "#0a4fa8", weight: 1.5, fill: true, fillColor: "#0a4fa8", fillOpacity: 0.45 }],
    [5, { radius: 3, color: "#0a4fa8", weight: 1, fill: true, fillColor: "#0a4fa8", fillOpacity: 0.5 }],
    [0, { radius: 1.5, color: "#0a4fa8", weight: 0.5, fill: true, fillColor: "#0a4fa8", fillOpacity: 0.6 }]
  ];

  function tileStyle(zoom) {
    return TILE_STYLES.filter(function (style) { return zoom >= style[0]; })[0][1];
  }

  // The rows the tiles of one zoom drew: a row near a tile's edge is in its neighbours' buffers too,
  // so rows are told apart by their key; without a key every drawing counts.
  function rowCounter() {
    var key = JSON.parse(canvas.getAttribute("data-key") || "[]");
    var seen = {}, rows = 0;
    return {
      add: function (properties) {
        var id = key.length ? JSON.stringify(key.map(function (name) { return properties[name]; })) : null;
        if (id === null || !seen[id]) {
          rows += 1;
          if (id !== null) { seen[id] = true; }
        }
      },
      count: function () { return rows; }
    };
  }

  // The tile layer; the map element says when the tiles on screen have loaded (data-tiles-loaded:
  // their zoom) and how many rows they drew (data-tile-features), for the status line and tests.
  // A tile that held more rows than the API's limit carries a "truncated" layer (autoapi/formats/tiles.py):
  // one hidden point whose feature_limit says how many the tile drew.
  function vectorTiles(map, url) {
    var drawn = rowCounter();
    var truncated = {};
    var said = null;
    var layer = L.vectorGrid.protobuf(url, {
      rendererFactory: L.canvas.tile,
      interactive: true,
      tolerance: 4, // pixels around a mark that still click it (the small ones further out too)
      maxNativeZoom: 22,
      vectorTileLayerStyles: {
        "default": function (properties, zoom) { drawn.add(properties); return tileStyle(zoom); },
        "truncated": function (properties, zoom) { truncated[zoom] = properties.feature_limit; return []; }
      }
    });
    map.on("zoomstart", function () {
      drawn = rowCounter();
      truncated = {};
      canvas.removeAttribute("data-tiles-loaded");
    });
    layer.on("load", function () {
      var zoom = Math.round(map.getZoom());
      var limit = truncated[zoom];
      canvas.setAttribute("data-tile-features", String(drawn.count()));
      canvas.setAttribute("data-tiles-truncated", limit ? "true" : "false");
      canvas.setAttribute("data-tiles-loaded", String(zoom));
      var text = drawn.count() === 0 ? "No row here has a location to draw."
        : limit ? "Where rows are dense, a tile draws " + Number(limit).toLocaleString("en") +
          " of them: zoom in to see every row."
        : "Every row with a location is drawn, from vector tiles: zoom in for detail.";
      if (text !== said) { // said when it changes only: the status line is a live region
        said = text;
        say(text);
      }
    });
    layer.on("click", function (event) {
      L.popup(POPUP).setLatLng(event.latlng).setContent(popupFor(event.layer.properties)).openOn(map);
    });
    return layer.addTo(map);
  }

  // The view fits the first rows of the GeoJSON (cheap, and the rows the preview shows first); the
  // tiles are added after, so that they are fetched for that view only.
  function drawTiles(map, url) {
    patchVectorGridClicks();
    say("Loading the map data…");
    getJSON(canvas.getAttribute("data-geojson"), "application/geo+json").then(function (collection) {
      var bounds = L.geoJSON(collection, { filter: located }).getBounds();
      if (bounds.isValid()) {
        map.fitBounds(bounds, FIT);
      }
    }).catch(function () { /* the tiles draw the rows all the same, on the whole world */ }).then(function () {
      vectorTiles(map, url);
    });
  }

  // --- the data: GeoJSON (no tiles without PostGIS) -------------------------------------------------

  // Whether Leaflet can place the feature: an empty point (POINT EMPTY) has no coordinates.
  function located(feature) {
    var geometry = feature && feature.geometry;
    return Boolean(geometry) && !(geometry.type === "Point" && !(geometry.coordinates || []).length);
  }

  var shapeStyle = { color: "#0a4fa8", weight: 2, fillColor: "#0a4fa8", fillOpacity: 0.3 };
  var pointStyle = { radius: 4.5, color: "#ffffff", weight: 1, fillColor: "#0a4fa8", fillOpacity: 0.85 };
  function isPoint(feature) {
    var type = feature && feature.geometry && feature.geometry.type;
    return type === "Point" || type === "MultiPoint";
  }

  function drawGeoJSON(map) {
    say("Loading the map data…");
    getJSON(canvas.getAttribute("data-geojson"), "application/geo+json").then(function (collection) {
      var drawn = 0;
      var layer = L.geoJSON(collection, {
        filter: located,
        // GeoJSON layers restyle their circle markers too: points keep the point style.
        style: function (feature) { return isPoint(feature) ? pointStyle : shapeStyle; },
        pointToLayer: function (feature, latlng) { return L.circleMarker(latlng, pointStyle); },
        onEachFeature: function (feature, shape) {
          drawn += 1;
          shape.bindPopup(popupFor(feature.properties), POPUP);
        }
      }).addTo(map);
      var features = collection.type === "Feature" ? 1 : (collection.features || []).length; // an OGC item page draws one
      var bounds = layer.getBounds();
      if (bounds.isValid()) {
        map.fitBounds(bounds, FIT); // clear of the zoom buttons and the attribution, no animation
      }
      var missing = features - drawn;
      say(drawn === 0 ? "No row here has a location to draw."
        : drawn.toLocaleString("en") + " of " + features.toLocaleString("en") + " row" + (features === 1 ? "" : "s") + " drawn" +
          (missing > 0 ? " (" + missing + " without a location)." : "."));
      canvas.setAttribute("data-drawn", String(drawn));
    }).catch(function (error) {
      say("The map data could not be loaded: " + error.message + ".");
      canvas.setAttribute("data-drawn", "error");
    });
  }

  canvas.textContent = "";
  canvas.classList.add("map-live");
  // No fade: a popup is readable (full contrast) the moment it opens, for people and for axe.
  var map = L.map(canvas, { worldCopyJump: false, zoomSnap: 0.5, minZoom: 0, maxZoom: 19, fadeAnimation: false });
  canvas.leafletMap = map; // for the browser tests (and a curious console)
  map.setView([20, 0], 1);
  baseMap(map);
  if (canvas.getAttribute("data-vector-tiles") && L.vectorGrid) {
    drawTiles(map, canvas.getAttribute("data-vector-tiles"));
  } else {
    drawGeoJSON(map);
  }
})();
