/* The facet charts of a relation page: each figure.facet-chart fetches its counts from the aggregate
   API (data-api, the same query as the list beside it) and draws them with Chart.js: bars for
   values, a line for years or months in order. The page works without this script: the figures
   stay hidden and the lists carry the same numbers. A chart that cannot be drawn stays hidden too,
   with data-drawn="failed" and a short note. Labels are set as text by Chart.js, never as HTML.
   The facets of a large relation arrive later (facets.js, the "portal:facets" event). */
(function () {
  "use strict";
  if (!window.Chart || !window.fetch) {
    return;
  }

  // The site's colours (static/portal.css), so the charts follow the stylesheet.
  var css = window.getComputedStyle(document.documentElement);
  function colour(name, fallback) {
    return css.getPropertyValue(name).trim() || fallback;
  }
  var ink = colour("--link", "#0a4fa8");
  Chart.defaults.color = colour("--muted", "#4f5862");
  Chart.defaults.borderColor = colour("--line", "#d0d7de");
  Chart.defaults.font.family = colour("--font", "sans-serif");

  var ISO_DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}/;

  // A period's start as the list shows it: 2013 for a year, 2013-07 for a month.
  function label(value, key) {
    if (value === null || value === undefined) {
      return "null";
    }
    var text = String(value);
    if (ISO_DATE.test(text)) {
      if (/__year$/.test(key)) {
        return text.slice(0, 4);
      }
      if (/__month$/.test(key)) {
        return text.slice(0, 7);
      }
    }
    return text;
  }

  // Long values would crowd the axis: cut there, in full in the tooltip.
  function shortTick(value) {
    var text = this.getLabelForValue(value);
    return text.length > 14 ? text.slice(0, 13) + "…" : text;
  }

  function draw(figure, rows) {
    var key = figure.getAttribute("data-key");
    var line = figure.getAttribute("data-kind") === "line";
    var shown = parseInt(figure.getAttribute("data-shown"), 10);
    // The API is asked for one more than the list shows (to know there are more): draw what the list shows.
    if (shown > 0) {
      rows = rows.slice(0, shown);
    }
    // Unhidden first: Chart.js sizes the canvas from its container.
    figure.hidden = false;
    new Chart(figure.querySelector("canvas"), {
      type: line ? "line" : "bar",
      data: {
        labels: rows.map(function (row) { return label(row[key], key); }),
        datasets: [{
          label: "Rows",
          data: rows.map(function (row) { return row.count; }),
          backgroundColor: ink,
          borderColor: ink,
          borderWidth: line ? 2 : 0,
          pointRadius: line ? 2.5 : 0,
          maxBarThickness: 48
        }]
      },
      options: {
        locale: "en",
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: {
          x: { grid: { display: false }, ticks: { callback: shortTick, autoSkip: true, maxRotation: 60 } },
          y: { beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
    figure.setAttribute("data-drawn", "true");
  }

  function fail(figure, reason) {
    figure.hidden = true;
    figure.setAttribute("data-drawn", "failed");
    var note = document.createElement("p");
    note.className = "facet-chart-status muted";
    note.setAttribute("role", "status");
    note.textContent = "The chart could not be drawn (" + reason + "); the counts are listed below.";
    figure.parentNode.insertBefore(note, figure.nextSibling);
  }

  function chart(figure) {
    if (figure.chartStarted) {  // facets.js may have put it in place before this script ran
      return;
    }
    figure.chartStarted = true;
    // Approximate counts (catalog/facet_estimates.py) come with the list: the chart draws the same
    // estimates rather than asking the API to count every row, the cost the estimate avoided.
    var counts = figure.getAttribute("data-counts");
    if (counts) {
      var key = figure.getAttribute("data-key");
      try {
        draw(figure, JSON.parse(counts).rows.map(function (pair) {
          var row = { count: pair[1] };
          row[key] = pair[0] === "null" ? null : pair[0];
          return row;
        }));
      } catch (error) {
        fail(figure, error.message);
      }
      return;
    }
    fetch(figure.getAttribute("data-api"), { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("the API answered " + response.status);
        }
        return response.json();
      })
      .then(function (page) {
        draw(figure, page.results || []);
      })
      .catch(function (error) {
        fail(figure, error.message);
      });
  }

  function chartsIn(root) {
    Array.prototype.forEach.call(root.querySelectorAll("figure.facet-chart[data-api]"), chart);
  }

  chartsIn(document);
  document.addEventListener("portal:facets", function (event) {
    chartsIn(event.detail || document);
  });
})();
