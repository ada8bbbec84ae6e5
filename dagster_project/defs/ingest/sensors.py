"""Start a refresh when departments deliver files, with a daily schedule as the backstop."""

import hashlib

import dagster as dg

from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest.files import list_extract_files

REFRESH_JOB = "refresh"


def raw_fingerprint() -> str:
    """A digest of every extract file's path, size and modification time under data/raw."""
    raw = get_settings().raw_dir
    digest = hashlib.sha256()
    if raw.is_dir():
        for folder in sorted(p for p in raw.iterdir() if p.is_dir() and p.name[0] not in "._"):
            for path in list_extract_files(folder):
                stat = path.stat()
                digest.update(
                    f"{path.relative_to(raw)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
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
