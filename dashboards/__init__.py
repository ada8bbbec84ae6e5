"""Static KPI dashboards rendered from the published marts."""

from dashboards.site import SiteResult, build_site

__all__ = ["SiteResult", "build_site"]
