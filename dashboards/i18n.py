"""English and Chinese words of the site's own interface.

Metric labels come from the catalog (dim_metric_catalog.label / label_zh) and org names from
dim_org; only the site's chrome is translated here. Pages are written in English with the Chinese in
`data-zh` attributes, and assets/site.js swaps them when the reader picks 中文.
"""

from __future__ import annotations

Words = tuple[str, str]  # (English, Chinese)

TIER_NAMES: dict[str, Words] = {
    "group": ("Group", "集团"),
    "subsidiary": ("Subsidiary", "子公司"),
    "branch": ("Branch", "分公司"),
    "sub_branch": ("Sub-branch", "支公司"),
    "center": ("Center", "运营中心"),
}
TIER_PLURALS: dict[str, Words] = {
    "group": ("Groups", "集团"),
    "subsidiary": ("Subsidiaries", "子公司"),
    "branch": ("Branches", "分公司"),
    "sub_branch": ("Sub-branches", "支公司"),
    "center": ("Centers", "运营中心"),
}
DIMENSION_NAMES: dict[str, Words] = {
    "value": ("Value", "价值"),
    "efficiency": ("Efficiency", "效率"),
    "quality": ("Quality", "质量"),
    "risk_control": ("Risk control", "风险控制"),
    "service": ("Service", "服务"),
    "key_projects": ("Key projects", "重点项目"),
    "other": ("Other", "其他"),
}
DIRECTION_NAMES: dict[str, Words] = {
    "higher_is_better": ("Higher is better", "越高越好"),
    "lower_is_better": ("Lower is better", "越低越好"),
    "none": ("No direction", "无方向"),
}
# Why a KPI was left out of a composite score (fct_score_contributions.missing_reason).
MISSING_REASONS: dict[str, Words] = {
    "no_data": ("no data", "无数据"),
    "small_base": ("small base", "样本少"),
    "stale_source": ("stale source", "数据源过期"),
    "no_target": ("no target", "无目标"),
    "no_peer_base": ("no peer base", "无同级基准"),
}
# How a child hangs under a metric in the indicator tree (dim_indicator_tree).
TREE_LINKS: dict[str, Words] = {
    "increases": ("drives it the same way", "同向驱动"),
    "decreases": ("drives it the opposite way", "反向驱动"),
    "numerator": ("numerator of its formula", "公式分子"),
    "denominator": ("denominator of its formula", "公式分母"),
    "formula": ("input of its formula", "公式输入"),
}

UI: dict[str, Words] = {
    "home": ("Home", "首页"),
    "catalog": ("Metric catalog", "指标目录"),
    "quality": ("Data quality", "数据质量"),
    "search_placeholder": ("Find a unit: code or name", "查找机构：代码或名称"),
    "search_none": ("No unit matches", "没有匹配的机构"),
    "latest_month": ("Latest month", "最新月份"),
    "metrics": ("Metrics", "指标数"),
    "on_target": ("On target", "达标"),
    "near_target": ("Near target", "接近目标"),
    "off_target": ("Off target", "未达标"),
    "built": ("Built", "生成时间"),
    "published": ("Data last published", "数据最近发布"),
    "not_published": ("Publication time not recorded", "未记录发布时间"),
    "gates_ok": ("All data gates passing", "所有数据闸门通过"),
    "stale": ("stale", "数据过期"),
    "stale_metrics": ("Stale metrics, greyed out below:", "以下指标数据过期（灰色显示）："),
    "held_kpis": ("KPIs held back by checks", "被检查拦截的指标"),
    "held_kpis_intro": (
        "A failed KPI check holds back only what it found: these show their values as last "
        "published, everything else is current.",
        "KPI 检查未通过时只拦截有问题的指标：以下指标显示上次发布的数值，其余均为最新。",
    ),
    "every_unit": ("every unit", "所有机构"),
    "where": ("Where", "范围"),
    "drill_down": ("Drill down", "下钻"),
    "target": ("Target", "目标"),
    "no_target": ("No target", "无目标"),
    "vs_prev": ("MoM", "环比"),
    "vs_year": ("YoY", "同比"),
    "no_value": ("no value", "无数值"),
    "definition_changed": ("definition changed since", "口径已变更，自"),
    "about_metric": ("About this metric", "指标说明"),
    "owner": ("Owner", "负责人"),
    "version": ("Version", "版本"),
    "definition": ("Definition", "定义"),
    "description": ("Description", "说明"),
    "current_version": ("Current version", "当前版本"),
    "building_block": ("building block", "基础量"),
    "formula": ("Formula", "公式"),
    "sources": ("Sources", "数据来源"),
    "source_columns": ("Source columns", "来源字段"),
    "unit": ("Unit", "单位"),
    "direction": ("Direction", "方向"),
    "dimension": ("Dimension", "维度"),
    "rollup": ("Roll-up", "汇总方式"),
    "attributed_to": ("Attributed to", "归属"),
    "in_catalog": ("Full entry in the catalog", "查看指标目录"),
    "compare": ("Compare", "对比"),
    "metric": ("Metric", "指标"),
    "last_13": ("last 13 months", "近13个月"),
    "ranked": ("ranked", "排名"),
    "among": ("among", "在"),
    "rank": ("Rank", "排名"),
    "unit_col": ("Unit", "机构"),
    "value": ("Value", "数值"),
    "volume": ("Volume", "样本量"),
    "status": ("Status", "状态"),
    "small_base": ("small base", "样本少"),
    "outlier": ("outlier", "异常值"),
    "ranking_note": (
        "Units with fewer than 30 cases are listed unranked; outliers are over 3 robust "
        "standard deviations from the median.",
        "样本少于30的机构不参与排名；异常值指偏离中位数超过3个稳健标准差。",
    ),
    "this_unit": ("this unit", "本机构"),
    "all_units": ("All units", "全部机构"),
    "no_data": ("No data published yet.", "尚无已发布数据。"),
    "versions": ("Version history", "版本历史"),
    "changed_at": ("Changed", "变更时间"),
    "change_summary": ("Change", "变更内容"),
    "change_note": ("Why", "变更原因"),
    "requested_by": ("requested by", "提出人"),
    "approved_by": ("approved by", "批准人"),
    "targets": ("Targets", "目标值"),
    "tier": ("Tier", "层级"),
    "red_threshold": ("Red below/above", "红色阈值"),
    "catalog_intro": (
        "The governed metrics, grouped by owner and dimension: one definition for every tier.",
        "受管控的指标，按负责人和维度分组：各层级统一口径。",
    ),
    "quality_intro": (
        "Data-quality scorecard of the delivered extracts, by source and owner.",
        "各来源数据质量记分卡，按来源与负责人分组。",
    ),
    "no_quality": (
        "The data-quality scorecard is not published yet.",
        "数据质量记分卡尚未发布。",
    ),
    "quality_pack": (
        "Delivery counts and pass rates are kept for the whole group, not per unit, so they are "
        "not part of this pack. The gates above say which sources are held back.",
        "交付行数与通过率按全集团统计、未按机构拆分，因此不包含在本数据包中。"
        "上方闸门状态显示哪些来源被拦截。",
    ),
    "source": ("Source", "来源"),
    "period": ("Month", "月份"),
    "delivered": ("Rows delivered", "交付行数"),
    "loaded": ("Rows loaded", "加载行数"),
    "quarantined": ("Quarantined", "隔离行数"),
    "rejected": ("Rejected batches", "拒收批次"),
    "pass_rate": ("Pass rate", "通过率"),
    "by_rule": ("Quarantined by rule", "按规则隔离"),
    "gate": ("Gate", "闸门"),
    "gate_ok": ("ok", "通过"),
    "gate_held": ("held", "拦截"),
    "pass_rate_history": ("Pass rate by month", "月度通过率"),
    "gate_states": ("Source gates", "来源闸门"),
    "check": ("Check", "检查"),
    "since": ("Since", "起始"),
    "last_file": ("Last file", "最近文件"),
    "last_loaded": ("Last loaded", "最近加载"),
    "reason": ("Reason", "原因"),
    # the value-management sections (dashboards/scorecard_pages.py)
    "composite_score": ("Composite score", "综合得分"),
    "grade": ("Grade", "等级"),
    "score": ("Score", "得分"),
    "profile": ("Weight profile", "权重方案"),
    "rank_siblings": ("Rank among peers", "同级排名"),
    "rank_tier": ("Rank in tier", "层级排名"),
    "rank_band": ("Rank band", "排名区间"),
    "band_note": (
        "best to worst rank when every weight is re-drawn within ±20%",
        "各权重在±20%内重抽时的最好至最差排名",
    ),
    "kpis_scored": ("KPIs scored", "计分指标"),
    "partial": ("partial", "部分计分"),
    "left_out": ("Left out of the score", "未计入得分的指标"),
    "no_peers": ("The group has no peers: no rank.", "集团无同级机构：不排名。"),
    "not_scored": (
        "Not scored: none of the profile's KPIs has a usable value.",
        "未计分：权重方案中的指标均无可用数值。",
    ),
    "moved_most": ("Moved the score most", "对得分变动影响最大"),
    "first_scored": ("First scored month: no change to split.", "首个计分月份：无变动可分解。"),
    "unchanged": ("No KPI moved the score this month.", "本月无指标影响得分。"),
    "points": ("pts", "分"),
    "league_tables": ("League tables", "排名表"),
    "league_title": ("league table", "排名表"),
    "league_intro": (
        "Composite scores of the tier's units in the latest month, with grades, partial flags "
        "and how firm each rank is. Click a column heading to sort.",
        "本层级各机构最新月份的综合得分、等级、部分计分标记及排名稳定性。点击列标题排序。",
    ),
    "league_pack": (
        "This pack lists its own units only. Ranks are as published, among every unit of the "
        "tier; other units are counted, never named, and the tier's statistics are shown only "
        "where five or more units share them.",
        "本数据包只列出本机构及下属机构。排名为已发布排名（在本层级全部机构中）；"
        "其他机构只计数、不列名，层级统计仅在五家及以上机构时显示。",
    ),
    "tier_stats_few": (
        "Fewer than five units scored: no tier statistics, so no unit's score can be read "
        "from them.",
        "计分机构少于五家：不显示层级统计，以免推算出单个机构的得分。",
    ),
    "parent": ("Parent", "上级机构"),
    "value_tree": ("Value tree", "价值树"),
    "value_tree_note": (
        "Goals → dimensions → KPIs → what drives them. ↑ moves the KPI the same way, ↓ the "
        "opposite way; ∑ is an input of its formula.",
        "目标 → 维度 → 指标 → 驱动因素。↑ 同向驱动，↓ 反向驱动；∑ 为公式输入。",
    ),
    "value_bridge": ("Value bridge", "价值桥"),
    "value_bridge_note": (
        "What operations cost and what they gave back in the month, stream by stream, in CNY: "
        "net value is the value created less the operations cost.",
        "当月运营成本与各价值来源创造的价值（人民币）：净价值 = 创造价值 − 运营成本。",
    ),
    "ops_cost": ("Operations cost", "运营成本"),
    "value_created": ("Value created", "创造价值"),
    "net_value": ("Net value", "净价值"),
    "line": ("Line", "项目"),
    "amount": ("CNY", "金额（元）"),
    "footer": (
        "opsvalue · operations KPI warehouse · values from the published marts",
        "opsvalue · 运营指标数据仓库 · 数据取自已发布的数据集市",
    ),
    "pack": ("Manager's pack", "管理者数据包"),
    "centers_title": ("Back-office centers", "后台运营中心"),
    "held_back": ("held back by", "被闸门拦截："),
    "owner_short": ("owner", "负责人"),
    "lang": ("Language", "语言"),
}


def ui(key: str) -> Words:
    """The (English, Chinese) words of an interface key."""
    return UI[key]


# The "why it moved" views and the top movers (dashboards/why_view.py).
WHY_UI: dict[str, Words] = {
    "why": ("Why it moved", "变化原因"),
    "why_link": ("Why", "原因"),
    "why_intro": (
        "Each KPI's change split over the units below: a bar per unit, its own performance "
        "(rate) shaded apart from the shift of its share of the volume (mix). The bars add up "
        "to the change; each unit links to its own page.",
        "各指标的变化按下级机构拆分：每个机构一条，自身表现（表现效应）与业务量占比变化（结构效应）"
        "分色显示。各条之和即为变化值；点击机构名称查看其页面。",
    ),
    "mom": ("Last month", "环比"),
    "yoy": ("Last year", "同比"),
    "rate": ("rate", "表现"),
    "mix": ("mix", "结构"),
    "own_change": ("own change", "自身变化"),
    "legend_rate": ("Rate: the unit's own value changed", "表现效应：机构自身指标变化"),
    "legend_mix": ("Mix: its share of the volume changed", "结构效应：业务量占比变化"),
    "legend_own": ("Each unit's own change (the KPI adds up)", "各机构自身变化（指标可加总）"),
    "change_total": ("Change", "变化合计"),
    "percentile": (
        "A percentile is not decomposable: it cannot be split over the units below. Their own "
        "values are in the ranking below.",
        "分位数指标无法分解到下级机构；各机构自身数值见下方排名。",
    ),
    "no_comparison": ("No value to compare with.", "无可比较的数值。"),
    "no_breakdown": ("Not split for this month.", "本月未拆分。"),
    "no_children": ("No units below this one.", "本机构无下级机构。"),
    "movers": ("Top movers", "主要拖累因素"),
    "movers_intro": (
        "The five units below that moved this unit's off-target or worsening KPIs most, each "
        "contribution against the KPI's own size (last month's value, or its target), with the "
        "share of the shortfall it explains. Each unit opens on its own why view.",
        "对本机构未达标或较上月变差的指标影响最大的五个下级机构：贡献按指标自身水平（上月值或目标值）"
        "衡量，并列出其占缺口的比例。点击机构查看其变化原因。",
    ),
    "movers_none": (
        "No KPI here is off target or worse than last month.",
        "本机构没有未达标或较上月变差的指标。",
    ),
    "numerator": ("numerator", "分子"),
    "denominator": ("denominator", "分母"),
    "part": (" (the part the formula uses)", "（公式所用部分）"),
    "shapley": (
        "By the formula's inputs: each input's change, the other averaged over both months "
        "(Shapley split)",
        "按公式输入拆分：各输入项的变化，另一项取两个月的平均（Shapley 分解）",
    ),
    "lmdi": (
        "By the formula's factors: each factor's change, log-mean weighted (LMDI)",
        "按公式因子拆分：各因子的变化，按对数平均加权（LMDI 分解）",
    ),
    "mix_rank": ("At group mix", "按集团结构"),
    "mix_rank_title": (
        "The same units ranked with each at the group's {by} mix: a unit ranked higher here "
        "than by its raw value serves harder segments than the group does",
        "各机构按集团{by}结构计算后的排名：此处排名高于原始排名的机构，其业务结构比集团更难",
    ),
    "of_gap": ("of the gap to target", "占与目标差距"),
    "of_fall": ("of the change since last month", "占环比变化"),
}
