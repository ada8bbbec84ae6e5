"""Dagster's SQLite storage, with the event log's database connections kept open.

Dagster's `SqliteEventLogStorage` creates a SQLAlchemy engine, opens the database file, commits
with a full fsync and disposes the engine for every event it stores. A one-day refresh stores about
700 events (each dbt test is an asset check, planned and then evaluated), and that per-event
set-up was about 4 s of a 28 s refresh (`benchmarks/README.md`). Dagster's answer for heavy use is
Postgres, a service these machines do not run; this keeps the SQLite files, their layout under
DAGSTER_HOME and every read and write Dagster makes, and changes only how connections are held:

- one engine per database file is kept with its pooled connection, and the least recently used
  are disposed beyond a few (a webserver browsing old runs must not keep every file open);
- a commit therefore lands in the shard's WAL file and reaches the main file only at a checkpoint,
  so a watch (the UI's live run log) wakes on changes to either file, not only the main one;
- commits use `synchronous=NORMAL`, SQLite's setting for WAL databases (Dagster puts its shards in
  WAL mode): a killed process loses nothing it committed, an operating-system crash or power cut
  may lose the last events of run history, never anything in the warehouse.

Selected in DAGSTER_HOME/dagster.yaml (written by `opsvalue`, see `core.runner.DAGSTER_YAML`):

    storage:
      custom:
        module: dagster_project.core.dagster_storage
        class: PooledSqliteStorage
        config:
          base_dir: {env: DAGSTER_HOME}

Written here rather than configured because Dagster has no setting for either; it overrides
`SqliteEventLogStorage._connect`, a private method (checked against dagster 1.13 by
tests/core/test_dagster_storage.py, which fails if its signature or use changes).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.base import EventHandlerFn
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from watchdog.events import FileSystemEvent, PatternMatchingEventHandler
from watchdog.observers import Observer

# the run being written, the cross-run index and a few more (a webserver reads many runs)
KEPT_ENGINES = 4


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` that keeps an engine per shard instead of one per statement."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = create_engine(
                    self.conn_string_for_shard(shard),
                    # one connection at a time, a second one only while _initdb inspects the file
                    pool_size=1,
                    max_overflow=1,
                    # used under _db_lock, possibly from another thread than the one that opened it
                    connect_args={
                        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                        "check_same_thread": False,
                    },
                )
                event.listen(engine, "connect", _sqlite_pragmas)
            self._engines[shard] = engine  # most recently used last
            while len(self._engines) > KEPT_ENGINES:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # as SqliteEventLogStorage._connect, without creating and disposing an engine each time
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose_engines(self) -> None:
        with self._engines_lock:
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def wipe(self) -> None:
        # the files are deleted: no connection may stay on them, including one another thread
        # opened while they were being deleted (super().wipe() takes _db_lock itself)
        with self._db_lock:
            self.dispose_engines()
        super().wipe()
        with self._db_lock:
            self.dispose_engines()

    def dispose(self) -> None:
        super().dispose()  # stops the watch thread first: its callbacks read through _connect
        self.dispose_engines()

    def watch(self, run_id: str, cursor: str | None, callback: EventHandlerFn) -> None:
        # as SqliteEventLogStorage.watch, with a watchdog that also wakes on the WAL file
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        watchdog = WalAwareWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            watchdog,
            self._obs.schedule(watchdog, self._base_dir, recursive=True),
        )


class WalAwareWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's run-log watchdog, woken by writes to the shard or to its WAL file."""

    def __init__(
        self,
        event_log_storage: SqliteEventLogStorage,
        run_id: str,
        callback: EventHandlerFn,
        cursor: str | None,
    ) -> None:
        super().__init__(event_log_storage, run_id, callback, cursor)
        # the parent watches only the shard (patterns=[_log_path]); set up again for both files
        PatternMatchingEventHandler.__init__(
            self, patterns=[self._log_path, f"{self._log_path}-wal"]
        )

    def on_modified(self, event: FileSystemEvent) -> None:
        self._process_log()


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage (same files), with the pooled event log storage."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: dict[str, Any]
    ) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
