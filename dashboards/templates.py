"""HTML skeleton and stylesheet shared by every dashboard page.

Kept as Python strings rather than package data files so the templates ship with any install of
the package without extra packaging configuration.
"""

from __future__ import annotations

from string import Template

PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="opsvalue dashboards">
<title>$title</title>
<style>
$css
</style>
$head_scripts
</head>
<body>
<header class="page-header">
  <div class="page-header__inner">
    <div>
      <p class="page-header__tier">$tier</p>
      <h1 class="page-header__org">$org_name</h1>
    </div>
    <dl class="page-header__facts">
      <div><dt>Latest month</dt><dd class="latest-month">$latest_month</dd></div>
      <div><dt>Metrics</dt><dd>$metric_count</dd></div>
      <div><dt>Built</dt><dd class="built-at">$built_at</dd></div>
    </dl>
  </div>
</header>
<main class="page-main">
$body
</main>
<footer class="page-footer">
  opsvalue · operations KPI warehouse · values from marts.fct_kpi_values
</footer>
</body>
</html>
"""
)

CSS = """
:root {
  --bg: #f3f5f9;
  --card: #ffffff;
  --ink: #111827;
  --muted: #6b7280;
  --line: #e5e7eb;
  --brand: #1e3a5f;
  --good: #15803d;
  --good-bg: #dcfce7;
  --bad: #b91c1c;
  --bad-bg: #fee2e2;
  --neutral: #4b5563;
  --neutral-bg: #f3f4f6;
}
* { box-sizing: border-box; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--ink);
  font-family: Inter, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans CJK SC",
    "PingFang SC", "Microsoft YaHei", sans-serif;
  font-size: 14px;
  line-height: 1.4;
}
.page-header { background: var(--brand); color: #fff; }
.page-header__inner, .page-main, .page-footer {
  max-width: 1360px;
  margin: 0 auto;
  padding: 0 24px;
}
.page-header__inner {
  display: flex;
  flex-wrap: wrap;
  gap: 16px 40px;
  justify-content: space-between;
  align-items: flex-end;
  padding-top: 22px;
  padding-bottom: 20px;
}
.page-header__tier {
  margin: 0 0 4px;
  font-size: 12px;
  letter-spacing: .08em;
  text-transform: uppercase;
  opacity: .75;
}
.page-header__org { margin: 0; font-size: 26px; font-weight: 600; }
.page-header__facts { display: flex; gap: 32px; margin: 0; }
.page-header__facts dt {
  font-size: 11px;
  text-transform: uppercase;
  letter-spacing: .06em;
  opacity: .7;
}
.page-header__facts dd { margin: 2px 0 0; font-size: 16px; font-weight: 600; }
.page-main { padding-top: 8px; padding-bottom: 32px; }
.dimension { margin-top: 24px; }
.dimension__title {
  margin: 0 0 12px;
  font-size: 15px;
  font-weight: 600;
  color: var(--brand);
  border-bottom: 2px solid var(--line);
  padding-bottom: 6px;
}
.dimension__count { color: var(--muted); font-weight: 400; }
.tiles {
  display: grid;
  grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
  gap: 14px;
}
.tile {
  background: var(--card);
  border: 1px solid var(--line);
  border-radius: 10px;
  padding: 14px 16px 8px;
  display: flex;
  flex-direction: column;
  min-width: 0;
  box-shadow: 0 1px 2px rgba(16, 24, 40, .04);
}
.tile__label {
  margin: 0;
  font-size: 13px;
  font-weight: 600;
  line-height: 1.35;
  color: var(--ink);
  overflow-wrap: anywhere;
  /* Two lines at most, always reserved, so values and sparklines line up across a row. */
  min-height: 2.7em;
  display: -webkit-box;
  -webkit-line-clamp: 2;
  -webkit-box-orient: vertical;
  overflow: hidden;
}
.tile__label-zh { margin: 1px 0 0; font-size: 12px; color: var(--muted); min-height: 1.4em; }
.tile__value {
  margin: 8px 0 2px;
  font-size: 28px;
  font-weight: 650;
  letter-spacing: -.01em;
  font-variant-numeric: tabular-nums;
  white-space: nowrap;
  overflow: hidden;
  text-overflow: ellipsis;
}
.tile__value--missing { color: var(--muted); }
.tile__compare {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 4px 8px;
  margin: 0;
  font-size: 12px;
  color: var(--muted);
  /* Room for the badge and the previous value on two lines when a tile is narrow. */
  min-height: 44px;
  align-content: flex-start;
}
.change {
  display: inline-block;
  padding: 1px 7px;
  border-radius: 999px;
  font-weight: 600;
  font-variant-numeric: tabular-nums;
  white-space: nowrap;
}
.change--good { color: var(--good); background: var(--good-bg); }
.change--bad { color: var(--bad); background: var(--bad-bg); }
.change--neutral { color: var(--neutral); background: var(--neutral-bg); }
.tile__spark { margin-top: 6px; height: 64px; }
.panel {
  margin-top: 28px;
  background: var(--card);
  border: 1px solid var(--line);
  border-radius: 10px;
  padding: 16px 16px 8px;
}
.panel__title { margin: 0 0 4px; font-size: 15px; font-weight: 600; color: var(--brand); }
.panel__note { margin: 0 0 8px; font-size: 12px; color: var(--muted); }
.empty {
  margin-top: 32px;
  padding: 48px 24px;
  text-align: center;
  background: var(--card);
  border: 1px dashed #cbd5e1;
  border-radius: 10px;
  color: var(--muted);
  font-size: 16px;
}
.page-footer { padding-bottom: 24px; font-size: 11px; color: var(--muted); }
""".strip()
