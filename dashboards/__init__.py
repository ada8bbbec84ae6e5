"""Static KPI dashboards rendered from the published marts."""

from dashboards.site import SiteResult, build_site, publish_site, site_version

__all__ = ["SiteResult", "build_site", "publish_site", "site_version"]
