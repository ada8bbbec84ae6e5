/* opsvalue dashboards: plots, metric picker, unit search, language switch and sortable
   tables. Offline only. */
(function () {
  "use strict";
  var CONFIG = { displayModeBar: false, responsive: true };
  var LANG_KEY = "opsvalue-lang";
  var CHARTS = "[data-spark], #compare-chart, #bridge-chart";
  // Below this width a chart has room for about five month labels, not one every other month.
  var NARROW_CHART_PX = 560;
  // A page whose charts cannot be drawn says so: blank chart boxes would pass for "no data".
  var FAILURES = {
    data: [
      "The charts of this page cannot be shown: its chart data is unreadable.",
      "本页图表无法显示：图表数据无法读取。"
    ],
    library: [
      "The charts of this page cannot be shown: the chart library (assets/plotly.min.js) " +
        "did not load.",
      "本页图表无法显示：图表库（assets/plotly.min.js）未能加载。"
    ],
    chart: [
      "Some charts of this page cannot be shown: their data is missing or invalid.",
      "本页部分图表无法显示：其数据缺失或无效。"
    ]
  };
  var data = readData();
  var bridgeDrawn = false;

  function fail(kind, detail) {
    if (window.console) { window.console.error("opsvalue: " + FAILURES[kind][0], detail || ""); }
    if (document.getElementById("page-error")) { return; }  // the first failure is enough
    var box = document.createElement("p");
    var main = document.querySelector("main") || document.body;
    var zh = document.documentElement.getAttribute("data-lang") === "zh";
    box.id = "page-error";
    box.className = "page-error";
    box.setAttribute("role", "alert");
    box.setAttribute("data-en", FAILURES[kind][0]);
    box.setAttribute("data-zh", FAILURES[kind][1]);
    box.textContent = FAILURES[kind][zh ? 1 : 0];
    main.insertBefore(box, main.firstChild);
  }

  function readData() {
    var el = document.getElementById("page-data");
    var parsed = null;
    if (!el) {
      if (document.querySelector(CHARTS)) { fail("data", "no page-data element"); }
      return {};
    }
    try { parsed = JSON.parse(el.textContent); } catch (err) { fail("data", err); return {}; }
    if (!parsed || typeof parsed !== "object") { fail("data", "not an object"); return {}; }
    return parsed;
  }

  // On a phone the spec's month step tilts the labels until they overlap: plotly picks a
  // coarser step instead. The spec is the page's own copy, so changing it is harmless.
  function fitMonths(div, layout) {
    var axis = layout && layout.xaxis;
    if (axis && axis.dtick && div.clientWidth < NARROW_CHART_PX) {
      delete axis.dtick;
      axis.nticks = 5;
    }
  }

  function draw(div, spec, update) {
    if (!window.Plotly) { return; }  // reported once, when the page starts
    if (!spec || !spec.data) { fail("chart", div.id); return; }
    fitMonths(div, spec.layout);
    try {
      var drawn = update
        ? window.Plotly.react(div, spec.data, spec.layout, CONFIG)
        : window.Plotly.newPlot(div, spec.data, spec.layout, CONFIG);
      if (drawn && drawn.then) { drawn.then(null, function (err) { fail("chart", err); }); }
    } catch (err) {
      fail("chart", err);
    }
  }

  function drawSparklines() {
    var sparks = data.sparks || {};
    document.querySelectorAll("[data-spark]").forEach(function (div) {
      draw(div, sparks[div.getAttribute("data-spark")], false);
    });
  }

  // The value bridge's bar labels are data (plotly draws them, site.js cannot swap their text
  // in place): the trace keeps both languages in its meta, and the chart is redrawn with them.
  function drawBridge() {
    var div = document.getElementById("bridge-chart");
    var spec = data.bridge;
    if (!div) { return; }
    var trace = spec && spec.data && spec.data[0];
    if (trace && trace.meta && trace.meta.en && trace.meta.zh) {
      var zh = document.documentElement.getAttribute("data-lang") === "zh";
      trace.y = zh ? trace.meta.zh : trace.meta.en;
    }
    draw(div, spec, bridgeDrawn);
    bridgeDrawn = true;
  }

  function pickedLabel() {
    var picker = document.getElementById("metric-picker");
    var label = document.getElementById("compare-metric-label");
    if (picker && label && picker.selectedIndex >= 0) {
      label.textContent = picker.options[picker.selectedIndex].textContent;
    }
  }

  function selectMetric(metric) {
    var compare = data.compare || {};
    if (!metric) { return; }
    document.querySelectorAll("[data-rank-metric]").forEach(function (el) {
      el.hidden = el.getAttribute("data-rank-metric") !== metric;
    });
    document.querySelectorAll(".metric-picker").forEach(function (sel) { sel.value = metric; });
    pickedLabel();
    var chart = document.getElementById("compare-chart");
    if (chart) { draw(chart, compare[metric], true); }
  }

  function swapAttr(el, attr, zh) {
    var enKey = "data-en-" + attr;
    if (!el.hasAttribute(enKey)) { el.setAttribute(enKey, el.getAttribute(attr) || ""); }
    el.setAttribute(attr, zh ? el.getAttribute("data-zh-" + attr) : el.getAttribute(enKey));
  }

  function setLang(lang) {
    var zh = lang === "zh";
    var root = document.documentElement;
    root.setAttribute("data-lang", zh ? "zh" : "en");
    root.setAttribute("lang", zh ? "zh-CN" : "en");
    document.querySelectorAll("[data-zh]").forEach(function (el) {
      if (!el.hasAttribute("data-en")) { el.setAttribute("data-en", el.textContent); }
      el.textContent = zh ? el.getAttribute("data-zh") : el.getAttribute("data-en");
    });
    ["title", "placeholder", "aria-label"].forEach(function (attr) {
      document.querySelectorAll("[data-zh-" + attr + "]").forEach(function (el) {
        swapAttr(el, attr, zh);
      });
    });
    document.querySelectorAll("[data-lang-set]").forEach(function (button) {
      var on = button.getAttribute("data-lang-set") === (zh ? "zh" : "en");
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
    try { window.localStorage.setItem(LANG_KEY, zh ? "zh" : "en"); } catch (err) { /* off */ }
    pickedLabel();
    if (bridgeDrawn) { drawBridge(); }
  }

  function initialLang() {
    var match = /[?&]lang=(en|zh)/.exec(window.location.search);
    if (match) { return match[1]; }
    try { return window.localStorage.getItem(LANG_KEY) || "en"; } catch (err) { return "en"; }
  }

  function initSearch() {
    var input = document.getElementById("unit-search");
    var list = document.getElementById("unit-search-results");
    var units = window.OPSVALUE_UNITS || [];
    var base = document.body.getAttribute("data-root") || "";
    if (!input || !list) { return; }
    function render() {
      var query = input.value.trim().toLowerCase();
      list.innerHTML = "";
      if (!query) { list.hidden = true; return; }
      var hits = units.filter(function (u) {
        return (u.c + " " + u.n + " " + u.t).toLowerCase().indexOf(query) >= 0;
      }).slice(0, 15);
      if (!hits.length) {
        var none = document.createElement("li");
        none.className = "search__none";
        none.textContent = list.getAttribute("data-none") || "No unit matches";
        list.appendChild(none);
      }
      hits.forEach(function (u) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        var meta = document.createElement("span");
        a.href = base + u.p;
        a.textContent = u.n;
        meta.className = "search__meta";
        meta.textContent = u.c + " · " + u.t;
        a.appendChild(meta);
        li.appendChild(a);
        list.appendChild(li);
      });
      list.hidden = false;
    }
    input.addEventListener("input", render);
    input.addEventListener("keydown", function (event) {
      var first = list.querySelector("a");
      if (event.key === "Enter" && first) { window.location.href = first.href; }
      if (event.key === "Escape") { input.value = ""; render(); }
    });
    document.addEventListener("click", function (event) {
      if (!event.target.closest || !event.target.closest(".search")) { list.hidden = true; }
    });
  }

  function initPicker() {
    document.querySelectorAll(".metric-picker").forEach(function (sel) {
      sel.addEventListener("change", function () { selectMetric(sel.value); });
    });
    document.querySelectorAll("[data-pick]").forEach(function (link) {
      link.addEventListener("click", function () { selectMetric(link.getAttribute("data-pick")); });
    });
    var picker = document.getElementById("metric-picker");
    // Plotly.react on an empty div draws it, so the first selection also draws the chart.
    if (picker) { selectMetric(picker.value); }
  }

  // A tile's "why" link, a top mover or another page's link points at a closed <details>:
  // following a link to it does not open it, so it is opened here.
  function openWhy(id) {
    var view = id && id.indexOf("why-") === 0 ? document.getElementById(id) : null;
    if (view && view.tagName === "DETAILS") { view.open = true; }
  }

  function initWhy() {
    document.querySelectorAll("[data-why]").forEach(function (link) {
      link.addEventListener("click", function () { openWhy(link.getAttribute("data-why")); });
    });
    window.addEventListener("hashchange", function () { openWhy(window.location.hash.slice(1)); });
    openWhy(window.location.hash.slice(1));
  }

  // A sortable table's cells carry their sort key in data-sort (a number or text); empty keys
  // (no score, no rank) stay at the bottom whichever way the column is sorted.
  function sortKey(cell, numeric) {
    var raw = cell ? cell.getAttribute("data-sort") : null;
    if (raw === null || raw === "") { return null; }
    if (!numeric) { return raw.toLowerCase(); }
    var number = parseFloat(raw);
    return isNaN(number) ? null : number;
  }

  function sortTable(table, head) {
    var index = head.cellIndex;
    var numeric = head.getAttribute("data-sort-type") === "num";
    var ascending = head.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortKey(a.cells[index], numeric);
      var y = sortKey(b.cells[index], numeric);
      if (x === y) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      return (x < y ? -1 : 1) * (ascending ? 1 : -1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("th[aria-sort]").forEach(function (th) {
      th.removeAttribute("aria-sort");
    });
    head.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  function initSortable() {
    document.querySelectorAll("table[data-sortable]").forEach(function (table) {
      table.querySelectorAll("th[data-sort-type] button").forEach(function (button) {
        button.addEventListener("click", function () {
          sortTable(table, button.closest("th"));
        });
      });
    });
  }

  document.querySelectorAll("[data-lang-set]").forEach(function (button) {
    button.addEventListener("click", function () {
      setLang(button.getAttribute("data-lang-set"));
    });
  });
  setLang(initialLang());
  initSearch();
  if (!window.Plotly && document.querySelector(CHARTS)) { fail("library"); }
  drawSparklines();
  initPicker();
  initWhy();
  drawBridge();
  initSortable();
})();
