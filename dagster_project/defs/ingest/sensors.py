"""Start a refresh when departments deliver files, with a daily schedule as the backstop."""

import hashlib

import dagster as dg

from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest.checks import CONTRACT
from dagster_project.defs.ingest.files import list_extract_files
from dagster_project.defs.ingest.unread import unread_entries

REFRESH_JOB = "refresh"


def raw_fingerprint() -> str:
    """A digest of the path, size and modification time of every extract file of the sources,
    and of everything else in data/raw the door does not read (a stray file is news too: the run
    lists it for `opsvalue status`), but what is skipped by name (`_manifest/`)."""
    raw = get_settings().raw_dir
    digest = hashlib.sha256()
    if raw.is_dir():
        for source in sorted(CONTRACT):
            for path in list_extract_files(raw / source):
                try:
                    stat = path.lstat()
                except FileNotFoundError:
                    continue
                digest.update(
                    f"{path.relative_to(raw)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
                )
        for entry in unread_entries(raw, CONTRACT):
            if not entry.by_design:
                digest.update(
                    f"{entry.path}|{entry.kind}|{entry.size_bytes}|{entry.mtime_ns}\n".encode()
                )
    return digest.hexdigest()


@dg.sensor(
    job_name=REFRESH_JOB,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a refresh when a file in data/raw is new or changed.",
)
def raw_delivery_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """One run request per distinct state of data/raw; none while nothing changes."""
    fingerprint = raw_fingerprint()
    if fingerprint == context.cursor:
        return dg.SensorResult(skip_reason="no new or changed files in data/raw")
    # run_key = the state of data/raw: the same delivery never starts two runs
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=fingerprint)],
        cursor=fingerprint,
    )


daily_refresh_schedule = dg.ScheduleDefinition(
    name="daily_refresh",
    job_name=REFRESH_JOB,
    cron_schedule="30 6 * * *",
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Backstop refresh every morning, in case a delivery was missed by the sensor.",
)
