"""Great Expectations in a process of its own, started while the pipeline's process starts.

Importing GX takes about 2.4 s on the 2-core machine, on top of Dagster's 2.3 s, and every run
that loads a file needs it: both used to sit on the run's critical path, one after the other.
`warm()` (called first thing by `opsvalue run` and `demo`) starts a child Python that imports GX
(`gx_worker`) on the other core while this process imports Dagster; GX then parses the suites
and judges the door's rows there, one call at a time (while one ingest thread waits for GX, the
other's DuckDB work goes on), and only counts come back.
Nothing is dropped: the same GX, suites and rows, judged in another process.

Written here rather than with `multiprocessing`: its spawn and forkserver children import the
parent's main module again (for `python -m dagster_project.cli`, the CLI itself, which would run
again), and `fork` of a process whose DuckDB and Dagster threads run is unsafe. The child is a
plain `python -m ...gx_worker` that reads pickled calls from one pipe and answers on another,
one call at a time. Without POSIX pipes to pass (Windows), GX runs in this process, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from typing import IO, Any

from dagster_project.defs.ingest.rules import gx_worker


class GXProcessError(RuntimeError):
    """The GX process ended or failed a call (the gate then holds the files, see load.py)."""


class _Child:
    """The running GX process and its two pipes."""

    def __init__(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            # what it prints (GX's and pandas' warnings) is kept for an error message, not shown
            # on the terminal the progress lines are written to
            self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open while the child runs
            self.process = subprocess.Popen(
                [sys.executable, "-m", gx_worker.__name__, str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=self.stderr,
                stderr=self.stderr,
                # a Ctrl-C on the terminal is the pipeline's to handle, not a kill of GX
                start_new_session=True,
            )
        except BaseException:
            for fd in (to_child_w, from_child_r):
                os.close(fd)
            if hasattr(self, "stderr"):
                self.stderr.close()
            raise
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.tx: IO[bytes] = os.fdopen(to_child_w, "wb")
        self.rx: IO[bytes] = os.fdopen(from_child_r, "rb")

    def call(self, name: str, args: tuple) -> Any:
        try:
            pickle.dump((name, args), self.tx, protocol=pickle.HIGHEST_PROTOCOL)
            self.tx.flush()
            ok, value = pickle.load(self.rx)
        except BaseException as exc:
            # a call cut anywhere (the child gone, a pickling error, an interrupt) may leave half
            # a request or an unread answer in the pipes: this child is ended, never reused
            ended = self.process.poll()
            output = self.output()[-1000:] or "(none)"
            self.kill()
            if not isinstance(exc, Exception):
                raise
            if ended is None:
                raise GXProcessError(f"a call to the GX process failed: {exc!r}") from exc
            raise GXProcessError(
                f"the GX process ended (exit code {ended}): {exc}; its last output: {output}"
            ) from exc
        if not ok:
            raise GXProcessError(f"GX failed in its process: {value}")
        return value

    def output(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace").strip()

    def close(self) -> None:
        """Close the pipes: the child reads the end of its input and exits on its own (not
        waited for: it may still be importing GX)."""
        for pipe in (self.tx, self.rx, self.stderr):
            with contextlib.suppress(OSError):
                pipe.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()
        self.close()


_LOCK = threading.Lock()
_CHILD: _Child | None = None


def _child() -> _Child | None:
    """The GX process of this Python process, started on first use (again after it ended);
    None where pipes cannot be passed to a child."""
    global _CHILD
    if os.name != "posix":
        return None
    if _CHILD is None or _CHILD.process.poll() is not None:
        if _CHILD is not None:  # ended since its last call: its pipes go
            _CHILD.close()
        _CHILD = _Child()
    return _CHILD


@atexit.register
def stop() -> None:
    """Tell the GX process to end (`opsvalue` calls it before leaving with os._exit)."""
    with _LOCK:
        if _CHILD is not None:
            _CHILD.close()


def warm() -> None:
    """Start the GX process now and return at once: it imports GX while this process goes on.

    Best effort: a process that cannot be started now (no room for a temporary file, no file
    descriptors left) is started, or its failure reported, by the first call that needs GX."""
    with _LOCK, contextlib.suppress(OSError):
        _child()


def _call(name: str, *args: Any) -> Any:
    with _LOCK:  # one call at a time: the ingestion's threads take turns
        child = _child()
        if child is None:
            return gx_worker.FUNCTIONS[name](*args)
        return child.call(name, args)


def check_suite(document: Mapping[str, Any]) -> str | None:
    """Why GX cannot read a suite document, None when it can."""
    return _call("check_suite", dict(document))


def validate(
    source: str,
    expectations: list[dict[str, Any]],
    frame: Any,
    parameters: Mapping[str, Any],
) -> list[tuple[str, bool, int, int, str | None]]:
    """GX's judgement of one frame: (rule, success, elements, unexpected, error) per
    expectation (`gx_worker.validate`)."""
    return _call("validate", source, expectations, frame, dict(parameters))
