"""`opsvalue site` (full or scoped dashboard builds) and `opsvalue serve`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rich.console import Console

from dagster_project.core.faults import check_published_snapshot, check_writable_folder
from dagster_project.core.settings import get_settings

OUT = Console(soft_wrap=True)
# soft wrap, as OUT: the terminal wraps a long line, so a path in a message (the pack's --out
# suggestion) is never cut by a newline and can be copied whole
ERR = Console(stderr=True, soft_wrap=True)


# Org and center codes as the org tree spells them (LIF-JS-06, C-CLM-PNC): anything else is
# refused before it reaches a file name or the warehouse (where it is only ever compared).
ORG_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")


def org_code(text: str) -> str:
    code = text.strip()
    if not ORG_CODE.fullmatch(code):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an org code (letters, digits, '-' and '_', e.g. LIF-JS)"
        )
    return code.upper()


def pack_dir(site_dir: Path, org: str) -> Path:
    """A pack's default folder, beside the live site: data/site-lif-js."""
    return site_dir.parent / f"site-{org.lower()}"


def cmd_site(args: argparse.Namespace) -> int:
    from dagster_project.core.warehouse import PipelineBusy, pipeline_lock
    from dagster_project.defs.publish.snapshot import published_fingerprint
    from dashboards import build_site, publish_site
    from dashboards.site import SiteWorkerDied, live_site_role

    settings = get_settings()
    default = pack_dir(settings.site_dir, args.org) if args.org else settings.site_dir
    out = Path(args.out) if args.out else default
    role = live_site_role(out, settings.site_dir)
    # before anything is built: the live site stays as it is
    check_published_snapshot(settings.warehouse_path)
    check_writable_folder(out.parent, "where the site is built")
    try:
        if role is not None and args.org:
            raise ValueError(
                f"{out} is the live dashboards ({settings.site_dir}) or one of their kept "
                f"builds: a pack never replaces them. Build it into its own folder, e.g. "
                f"--out {pack_dir(settings.site_dir, args.org)}"
            )
        if role == "versions":
            raise ValueError(
                f"{out} is one of the kept builds behind the live dashboards "
                f"({settings.site_dir}): run `opsvalue site` without --out to rebuild them"
            )
        if role == "live":
            # the live dashboards: built beside them and swapped in, like the pipeline does,
            # and never while a run is publishing them
            version = published_fingerprint(settings.warehouse_path) or "manual"
            with pipeline_lock(settings):
                result = publish_site(settings.warehouse_path, settings.site_dir, version)
        else:
            result = build_site(settings.warehouse_path, out, org=args.org)
    except (ValueError, FileNotFoundError, PipelineBusy, SiteWorkerDied) as exc:
        ERR.print(f"[red]site not built[/]: {exc}")
        return 2
    scope = f"scoped to {args.org} and its subtree" if args.org else "all units"
    OUT.print(
        f"[green]site built[/] ({scope}): {len(result.pages)} pages, "
        f"{result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s"
    )
    OUT.print(f"  index: {out / 'index.html'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from dashboards.commands import serve

    site_dir = Path(args.dir) if args.dir else get_settings().site_dir
    try:
        serve(
            site_dir,
            host=args.host,
            port=args.port,
            on_ready=lambda url: OUT.print(f"serving {site_dir} at {url} (Ctrl-C to stop)"),
        )
    except FileNotFoundError as exc:
        ERR.print(f"[red]nothing to serve[/]: {exc}: run `opsvalue demo` first")
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def add_site_parsers(sub: argparse._SubParsersAction) -> None:
    site = sub.add_parser("site", help="build the dashboard site from the published marts")
    site.add_argument(
        "--org", type=org_code, help="only this unit and its subtree (a manager's pack)"
    )
    site.add_argument(
        "--out",
        help="target folder (default data/site, or data/site-<org>); a folder opsvalue site "
        "did not write must be new or empty, and a pack never goes into the live site",
    )
    site.set_defaults(func=cmd_site)

    serve = sub.add_parser("serve", help="serve the dashboard site on localhost")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--dir", help="site folder (default data/site)")
    serve.set_defaults(func=cmd_serve)
