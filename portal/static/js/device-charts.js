/* Device page charts: four small uPlot charts of load, charge, input voltage and temperature.
 * Reads the history URL from data-history-url and fetches /devices/<id>/history.json?range=...
 * Without JavaScript the page shows a table of the latest values instead (progressive enhancement). */
(function () {
  "use strict";

  var COLOURS = {
    load_percent: "#1a5fb4",
    charge_percent: "#1e7d32",
    input_voltage_v: "#8a6d00",
    temperature_c: "#c62828",
  };
  var DIGITS = { load_percent: 0, charge_percent: 0, input_voltage_v: 1, temperature_c: 1 };

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // Times read in UTC like the event log, dates as "23 Nov".
  function utcLabel(ts, withDay, withTime) {
    var d = new Date(ts * 1000);
    var day = d.getUTCDate() + " " + MONTHS[d.getUTCMonth()];
    var time = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    return withDay && withTime ? day + " " + time : withDay ? day : time;
  }

  function format(value, unit, digits) {
    return value == null ? "—" : value.toFixed(digits) + " " + unit;
  }

  // A percentage axis runs 0-100 % (further only if a value does, e.g. load above 100 %): uPlot's own
  // padding put a flat 100 % charge in the middle of a 0-200 % axis.
  function yScale(figure) {
    var lo = figure.getAttribute("data-y-min");
    var hi = figure.getAttribute("data-y-max");
    if (lo == null || hi == null) return {};
    return {
      range: function (u, min, max) {
        return [Math.min(Number(lo), min == null ? Number(lo) : min), Math.max(Number(hi), max == null ? Number(hi) : max)];
      },
    };
  }

  function chartOptions(figure, width) {
    var series = figure.getAttribute("data-series");
    var unit = figure.getAttribute("data-unit");
    var label = figure.getAttribute("data-label");
    var digits = DIGITS[series] || 0;
    return {
      width: width,
      height: 170,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: yScale(figure) },
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      series: [
        { label: "UTC", value: function (u, ts) { return ts == null ? "—" : utcLabel(ts, true, true); } },
        {
          label: label,
          stroke: COLOURS[series] || "#1d2329",
          width: 2,
          spanGaps: false,
          value: function (u, v) { return format(v, unit, digits); },
        },
      ],
      axes: [
        {
          stroke: "#5b6670",
          grid: { stroke: "#e6eaee" },
          values: function (u, splits) {
            var span = u.scales.x.max - u.scales.x.min;
            return splits.map(function (ts) { return utcLabel(ts, span > 2 * 86400, span <= 2 * 86400); });
          },
        },
        {
          stroke: "#5b6670",
          grid: { stroke: "#e6eaee" },
          size: 64,
          values: function (u, values) {
            return values.map(function (v) { return v == null ? "" : v + " " + unit; });
          },
        },
      ],
    };
  }

  function init(root) {
    var section = root.closest("section") || root.parentElement;
    var url = root.getAttribute("data-history-url");
    var status = section.querySelector(".chart-status");
    var buttons = Array.prototype.slice.call(section.querySelectorAll("[data-range]"));
    var group = section.querySelector(".range-buttons");
    var figures = Array.prototype.slice.call(root.querySelectorAll("figure.chart"));
    var plots = [];
    var range = root.getAttribute("data-range") || "24h";

    section.classList.add("js-charts");
    if (group) group.hidden = false;

    function widthOf(figure) {
      return Math.max(220, Math.floor(figure.clientWidth || root.clientWidth || 300));
    }

    function draw(data) {
      plots.forEach(function (p) { p.destroy(); });
      plots = figures.map(function (figure) {
        var target = figure.querySelector(".chart-canvas");
        target.textContent = "";
        var series = figure.getAttribute("data-series");
        return new uPlot(chartOptions(figure, widthOf(figure)), [data.x, data[series]], target);
      });
      if (status) {
        status.textContent = data.x.length ? "" : "No telemetry in this range yet.";
      }
    }

    function load(next) {
      range = next;
      buttons.forEach(function (b) {
        b.setAttribute("aria-pressed", b.getAttribute("data-range") === range ? "true" : "false");
      });
      if (status) status.textContent = "Loading " + range + "…";
      fetch(url + "?range=" + encodeURIComponent(range), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(draw)
        .catch(function () {
          if (status) status.textContent = "The history could not be loaded. Try again in a moment.";
        });
    }

    buttons.forEach(function (b) {
      b.addEventListener("click", function () { load(b.getAttribute("data-range")); });
    });

    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () {
        plots.forEach(function (p, i) {
          p.setSize({ width: widthOf(figures[i]), height: 170 });
        });
      }, 150);
    });

    load(range);
  }

  function start() {
    if (typeof uPlot === "undefined") return; // keep the table of latest values
    Array.prototype.forEach.call(document.querySelectorAll(".charts[data-history-url]"), init);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
