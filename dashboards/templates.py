"""Stylesheet and script shared by every page, written once into the site's assets/ folder.

Kept as Python strings rather than package data files so they ship with any install of the
package without extra packaging configuration. Neither loads anything from the network.
"""

from __future__ import annotations

SITE_CSS = """
:root {
  --bg: #f3f5f9;
  --card: #ffffff;
  --ink: #111827;
  --muted: #6b7280;
  --faint: #9ca3af;
  --line: #e5e7eb;
  --brand: #1e3a5f;
  --brand-2: #27496f;
  --link: #1d4ed8;
  --green: #15803d;
  --green-ink: #166534;
  --green-bg: #dcfce7;
  --amber: #d97706;
  --amber-ink: #92400e;
  --amber-bg: #fef3c7;
  --red: #dc2626;
  --red-ink: #991b1b;
  --red-bg: #fee2e2;
  --none: #cbd5e1;
  --neutral-bg: #f3f4f6;
}
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--ink);
  font-family: Inter, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans CJK SC",
    "PingFang SC", "Microsoft YaHei", sans-serif;
  font-size: 14px;
  line-height: 1.45;
}
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
.wrap { max-width: 1360px; margin: 0 auto; padding: 0 24px; }
.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.muted { color: var(--muted); }
.code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }

/* top bar */
.topbar { background: var(--brand); color: #fff; position: sticky; top: 0; z-index: 20; }
.topbar__inner { display: flex; align-items: center; gap: 20px; height: 52px; }
.brand { color: #fff; font-weight: 700; font-size: 16px; letter-spacing: .02em; }
.brand:hover { text-decoration: none; }
.nav { display: flex; gap: 4px; }
.nav a { color: #dbe4f0; padding: 6px 10px; border-radius: 6px; font-size: 13px; }
.nav a:hover, .nav a[aria-current="page"] { background: var(--brand-2); color: #fff;
  text-decoration: none; }
.search { position: relative; margin-left: auto; width: 300px; }
.search input {
  width: 100%; padding: 7px 12px; border-radius: 8px; border: 1px solid #46658a;
  background: #17304f; color: #fff; font: inherit; font-size: 13px;
}
.search input::placeholder { color: #9fb3cc; }
.search__results {
  position: absolute; top: 40px; left: 0; right: 0; margin: 0; padding: 4px; list-style: none;
  background: #fff; color: var(--ink); border: 1px solid var(--line); border-radius: 8px;
  box-shadow: 0 10px 30px rgba(15, 23, 42, .18); max-height: 420px; overflow: auto;
}
.search__results a { display: block; padding: 7px 10px; border-radius: 6px; color: var(--ink); }
.search__results a:hover, .search__results a:focus { background: #eef2ff; text-decoration: none; }
.search__meta { display: block; color: var(--muted); font-size: 11px; }
.search__none { padding: 7px 10px; color: var(--muted); }
.lang { display: flex; border: 1px solid #46658a; border-radius: 8px; overflow: hidden; }
.lang button {
  background: transparent; color: #cbd5e1; border: 0; padding: 6px 10px; font: inherit;
  font-size: 12px; cursor: pointer;
}
.lang button[aria-pressed="true"] { background: #fff; color: var(--brand); font-weight: 600; }

/* publication notice */
.notices { border-bottom: 1px solid var(--line); background: #fff; }
.notices__inner { display: flex; flex-wrap: wrap; gap: 6px 18px; padding-top: 8px;
  padding-bottom: 8px; font-size: 12.5px; align-items: center; }
.notice { margin: 0; }
.notice--published { color: var(--muted); }
.notice--ok { color: var(--green-ink); }
.notice--ok::before { content: "● "; color: var(--green); }
.notice--held {
  flex-basis: 100%; color: var(--red-ink); background: var(--red-bg); border: 1px solid #fecaca;
  border-radius: 6px; padding: 6px 10px; font-weight: 600;
}
.notice--held::before { content: "⚠ "; }
.notice--stale { flex-basis: 100%; color: var(--amber-ink); }
.notice--held-kpi {
  flex-basis: 100%; color: var(--amber-ink); background: #fffbeb; border: 1px solid #fde68a;
  border-radius: 6px; padding: 6px 10px;
}
.notice--held-kpi::before { content: "⚠ "; }

/* page header */
.hero { background: #fff; border-bottom: 1px solid var(--line); }
.hero__inner { padding-top: 14px; padding-bottom: 16px; }
.crumbs { display: flex; flex-wrap: wrap; gap: 4px; margin: 0 0 8px; padding: 0; list-style: none;
  font-size: 12.5px; color: var(--muted); }
.crumbs li + li::before { content: "›"; margin: 0 6px 0 2px; color: var(--faint); }
.hero__row { display: flex; flex-wrap: wrap; gap: 16px 40px; justify-content: space-between;
  align-items: flex-end; }
.hero__tier { margin: 0 0 2px; font-size: 12px; letter-spacing: .06em; text-transform: uppercase;
  color: var(--muted); }
.hero__title { margin: 0; font-size: 26px; font-weight: 650; color: var(--brand); }
.hero__code { margin-left: 10px; font-size: 14px; font-weight: 500; color: var(--muted); }
.facts { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 0; }
.facts dt { font-size: 11px; text-transform: uppercase; letter-spacing: .05em;
  color: var(--muted); }
.facts dd { margin: 2px 0 0; font-size: 18px; font-weight: 650;
  font-variant-numeric: tabular-nums; }
.facts .fact--green dd { color: var(--green); }
.facts .fact--amber dd { color: var(--amber); }
.facts .fact--red dd { color: var(--red); }
.drill { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-top: 12px;
  font-size: 12.5px; }
.drill__label { color: var(--muted); margin-right: 4px; }
.chip {
  display: inline-flex; gap: 6px; align-items: center; padding: 3px 10px; border-radius: 999px;
  border: 1px solid var(--line); background: #f8fafc; color: var(--ink); white-space: nowrap;
}
.chip:hover { border-color: #93c5fd; background: #eff6ff; text-decoration: none; }
.chip .dot { width: 8px; height: 8px; }
.chip__code { color: var(--muted); font-size: 11px; }

/* scorecard */
.page-main { padding-top: 4px; padding-bottom: 32px; }
.dimension { margin-top: 22px; }
.dimension__title {
  margin: 0 0 10px; font-size: 15px; font-weight: 650; color: var(--brand);
  border-bottom: 2px solid var(--line); padding-bottom: 6px; display: flex; gap: 8px;
}
.dimension__count { color: var(--muted); font-weight: 400; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(285px, 1fr)); gap: 14px; }
.tile {
  position: relative; background: var(--card); border: 1px solid var(--line);
  border-left: 4px solid var(--none); border-radius: 10px; padding: 12px 14px 6px;
  display: flex; flex-direction: column; min-width: 0; box-shadow: 0 1px 2px rgba(16, 24, 40, .04);
}
.tile--green { border-left-color: var(--green); }
.tile--amber { border-left-color: var(--amber); }
.tile--red { border-left-color: var(--red); }
.tile__head { display: flex; gap: 8px; align-items: flex-start; justify-content: space-between; }
.tile__label {
  margin: 0; font-size: 13.5px; font-weight: 600; line-height: 1.35; color: var(--ink);
  overflow-wrap: anywhere; min-height: 2.7em; display: -webkit-box; -webkit-line-clamp: 2;
  -webkit-box-orient: vertical; overflow: hidden;
}
.tile__label-zh { margin: 0; font-size: 12px; color: var(--muted); min-height: 1.45em;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tile__row { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px;
  margin: 6px 0 2px; }
.tile__value {
  margin: 0; font-size: 27px; font-weight: 680; letter-spacing: -.01em;
  font-variant-numeric: tabular-nums; white-space: nowrap;
}
.tile__value--missing { color: var(--faint); }
.status {
  display: inline-block; padding: 2px 9px; border-radius: 999px; font-size: 11.5px;
  font-weight: 650; white-space: nowrap;
}
.status--green { color: var(--green-ink); background: var(--green-bg); }
.status--amber { color: var(--amber-ink); background: var(--amber-bg); }
.status--red { color: var(--red-ink); background: var(--red-bg); }
.status--none { color: var(--muted); background: var(--neutral-bg); }
.tile__meta { margin: 0; font-size: 12px; color: var(--muted); display: flex; flex-wrap: wrap;
  gap: 0 10px; min-height: 1.5em; }
.tile__meta .low { color: var(--amber-ink); font-weight: 600; }
.tile__meta .asof { color: var(--link); font-weight: 600; }
.tile__changes { margin: 6px 0 0; display: grid;
  grid-template-columns: max-content max-content minmax(0, 1fr); gap: 3px 8px; font-size: 12px;
  color: var(--muted); align-items: center; }
.tile__changes .k { font-size: 11px; font-weight: 600; color: var(--faint); min-width: 2.6em; }
.tile__changes .base { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tile__changes .note { grid-column: 1 / -1; font-size: 11px; color: var(--amber-ink); }
.change {
  display: inline-block; padding: 1px 7px; border-radius: 999px; font-weight: 600;
  font-variant-numeric: tabular-nums; white-space: nowrap; justify-self: start;
}
.change--good { color: var(--green-ink); background: var(--green-bg); }
.change--bad { color: var(--red-ink); background: var(--red-bg); }
.change--neutral, .change--none { color: #4b5563; background: var(--neutral-bg); }
.tile__spark { margin-top: 4px; height: 56px; }
.tile__foot { display: flex; justify-content: space-between; font-size: 11px; color: var(--faint);
  margin-top: 2px; }
.tile__foot a { color: var(--muted); }
.tile--stale { background: #f4f4f5; border-left-color: var(--faint); }
.tile--stale .tile__value, .tile--stale .tile__label { color: #9ca3af; }
.tile--stale .tile__spark { filter: grayscale(1); opacity: .45; }
.tile--stale .status { filter: grayscale(1); }
.stale-badge {
  display: inline-block; padding: 1px 7px; border-radius: 4px; font-size: 11px; font-weight: 700;
  text-transform: uppercase; letter-spacing: .04em; color: #fff; background: #6b7280;
}
.about { position: relative; flex: none; }
.about > summary {
  list-style: none; cursor: pointer; width: 20px; height: 20px; border-radius: 50%;
  border: 1px solid var(--line); color: var(--muted); font-size: 12px; font-weight: 700;
  display: flex; align-items: center; justify-content: center; font-family: Georgia, serif;
}
.about > summary::-webkit-details-marker { display: none; }
.about[open] > summary { background: var(--brand); color: #fff; border-color: var(--brand); }
.about__body {
  position: absolute; right: -6px; top: 26px; z-index: 10; width: 300px; padding: 12px 14px;
  background: #fff; border: 1px solid var(--line); border-radius: 10px; font-size: 12.5px;
  box-shadow: 0 12px 32px rgba(15, 23, 42, .18);
}
.about__body dl { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: 4px 10px; }
.about__body dt { color: var(--muted); }
.about__body dd { margin: 0; overflow-wrap: anywhere; }
.about__body p { margin: 8px 0 0; }

/* panels */
.panel {
  margin-top: 26px; background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 16px 18px 12px;
}
.panel__head { display: flex; flex-wrap: wrap; gap: 8px 20px; align-items: center;
  justify-content: space-between; margin-bottom: 10px; }
.panel__title { margin: 0; font-size: 16px; font-weight: 650; color: var(--brand); }
.panel__note { margin: 8px 0 0; font-size: 12px; color: var(--muted); }
.picker { font-size: 13px; color: var(--muted); display: flex; gap: 8px; align-items: center; }
.picker select { font: inherit; font-size: 13.5px; color: var(--ink); padding: 6px 10px;
  border-radius: 8px; border: 1px solid #cbd5e1; background: #fff; min-width: 260px; }
.compare__grid { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 7fr); gap: 24px; }
@media (max-width: 1100px) { .compare__grid { grid-template-columns: 1fr; } }
.sub-title { margin: 4px 0 8px; font-size: 13.5px; font-weight: 650; color: var(--ink); }
.chart { min-height: 380px; }

/* tables */
.rank, .grid-table { width: 100%; border-collapse: collapse; font-size: 13px; }
.rank th, .grid-table th {
  text-align: left; font-weight: 600; font-size: 11.5px; color: var(--muted);
  text-transform: uppercase; letter-spacing: .03em; padding: 6px 8px;
  border-bottom: 1px solid var(--line); white-space: nowrap;
}
.rank td, .grid-table td { padding: 6px 8px; border-bottom: 1px solid #f1f5f9;
  vertical-align: middle; }
.rank td.r, .rank th.r, .grid-table td.r, .grid-table th.r { text-align: right; }
.rank .unit-name { font-weight: 600; white-space: nowrap; }
.rank .unit-code { display: block; color: var(--muted); font-size: 11px; font-weight: 400;
  white-space: nowrap; }
.rank tr.is-self td { background: #eff6ff; }
.rank tr.is-small td { color: var(--muted); }
.rank tr.is-small .unit-name { font-weight: 500; }
.scale-cell { width: 30%; min-width: 90px; padding-left: 14px !important;
  padding-right: 14px !important; }
.scale-head { display: table-cell; font-size: 10.5px !important; text-transform: none !important;
  letter-spacing: 0 !important; }
.scale-head span + span { float: right; }
.track { position: relative; height: 14px; }
.track::before { content: ""; position: absolute; left: 0; right: 0; top: 6px; height: 2px;
  background: #e2e8f0; border-radius: 1px; }
.pin { position: absolute; top: 1px; width: 12px; height: 12px; margin-left: -6px;
  border-radius: 50%; background: #64748b; border: 2px solid #fff;
  box-shadow: 0 0 0 1px rgba(15, 23, 42, .25); }
.pin--green { background: var(--green); }
.pin--amber { background: var(--amber); }
.pin--red { background: var(--red); }
.tick { position: absolute; top: 0; width: 2px; height: 14px; margin-left: -1px;
  background: #475569; }
.rank tr.is-self .pin { width: 14px; height: 14px; margin-left: -7px; top: 0; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  background: var(--none); }
.dot--green { background: var(--green); }
.dot--amber { background: var(--amber); }
.dot--red { background: var(--red); }
.tag { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 4px;
  font-size: 10.5px; font-weight: 600; white-space: nowrap; vertical-align: 1px; }
.tag--small { color: var(--amber-ink); background: var(--amber-bg); }
.tag--outlier { color: #6d28d9; background: #ede9fe; }
.tag--stale { color: #fff; background: #6b7280; }
.rankings > div + div { margin-top: 22px; }

/* directory */
.directory__grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
  gap: 12px 24px; }
.dir-sub h3 { margin: 6px 0 8px; font-size: 14.5px; }
.dir-branch { margin: 0 0 8px; }
.dir-branch__name { margin: 0; font-weight: 600; font-size: 13px; }
.dir-leaves { display: flex; flex-wrap: wrap; gap: 1px 12px; margin: 2px 0 0 12px; padding: 0;
  list-style: none; font-size: 12.5px; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0 4px; padding: 0;
  list-style: none; }

/* catalog and quality */
.owner { margin-top: 26px; }
.owner__title { margin: 0 0 4px; font-size: 18px; color: var(--brand); }
.metric-card { background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 18px; margin-top: 12px; scroll-margin-top: 70px; }
.metric-card:target { outline: 3px solid #93c5fd; }
.metric-card h4 { margin: 0; font-size: 15px; }
.metric-card .kv { display: grid; grid-template-columns: 140px 1fr; gap: 4px 12px; margin: 10px 0 0;
  font-size: 13px; }
.metric-card .kv dt { color: var(--muted); }
.metric-card .kv dd { margin: 0; overflow-wrap: anywhere; }
.metric-card table { margin-top: 10px; }
.cell { text-align: right; font-variant-numeric: tabular-nums; }
.cell--good { background: var(--green-bg); }
.cell--warn { background: var(--amber-bg); }
.cell--bad { background: var(--red-bg); }
.empty {
  margin-top: 28px; padding: 48px 24px; text-align: center; background: var(--card);
  border: 1px dashed #cbd5e1; border-radius: 10px; color: var(--muted); font-size: 16px;
}
.page-footer { padding-top: 4px; padding-bottom: 24px; font-size: 11.5px; color: var(--muted);
  display: flex; flex-wrap: wrap; gap: 4px 16px; justify-content: space-between; }
""".strip()

SITE_JS = r"""
/* opsvalue dashboards: plots, metric picker, unit search and language switch. Offline only. */
(function () {
  "use strict";
  var CONFIG = { displayModeBar: false, responsive: true };
  var LANG_KEY = "opsvalue-lang";
  var data = readData();

  function readData() {
    var el = document.getElementById("page-data");
    if (!el) { return {}; }
    try { return JSON.parse(el.textContent); } catch (err) { return {}; }
  }

  function plot(div, spec) {
    if (!window.Plotly || !div || !spec) { return; }
    window.Plotly.newPlot(div, spec.data, spec.layout, CONFIG);
  }

  function drawSparklines() {
    var sparks = data.sparks || {};
    document.querySelectorAll("[data-spark]").forEach(function (div) {
      plot(div, sparks[div.getAttribute("data-spark")]);
    });
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
    var spec = compare[metric];
    if (chart && spec && window.Plotly) {
      window.Plotly.react(chart, spec.data, spec.layout, CONFIG);
    }
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

  document.querySelectorAll("[data-lang-set]").forEach(function (button) {
    button.addEventListener("click", function () {
      setLang(button.getAttribute("data-lang-set"));
    });
  });
  setLang(initialLang());
  initSearch();
  drawSparklines();
  initPicker();
})();
""".strip()
