"""Background jobs: long work (fine-tuning) run in a worker process, outside the Streamlit script run.

Jobs live in the workspace: one row per job in the ``jobs`` table of ``workspace.sqlite`` and one folder per job,
``<root>/jobs/<job_id>/``, that the job writes its files into (``worker.log``, checkpoints, ...).

State machine::

    submit() ──► queued ──dispatch()──► running ──► succeeded    the job function returned its result
                   │                       ├──────► failed       it raised, or its worker died (recover())
                   │ cancel()              └──────► cancelled    cancel() was requested and the job reported
                   └────────────────────────────►                progress, or the worker got SIGTERM

``succeeded``, ``failed`` and ``cancelled`` are final. :meth:`JobRunner.dispatch` claims the oldest queued job and
starts its worker (``python -m core.jobs <root> <job_id>``) in the same write transaction that marks it running with
the worker's pid, so two dispatchers (app, CLI, a finishing worker) never start one job twice, and never more than
``max_running`` jobs run at once. A worker that finishes calls dispatch() itself, so the queue drains without the app.

Progress: the job function calls :meth:`JobContext.report`, which merges into the job's progress JSON (adding
``elapsed_s`` and, from ``fraction``, ``eta_s``), writes it at most about twice a second and raises
:class:`JobCancelled` once a cancel was requested, so cancelling is cooperative: the job stops at its next report.

Crash safety: every state change is one short SQLite transaction, and a worker only writes to its row while that row
is still ``running`` with the worker's pid. A worker killed outright (SIGKILL, out of memory, a reboot) leaves its
row ``running`` and its folder with whatever it wrote so far. :meth:`JobRunner.recover` finds such rows (the pid is
gone, or now belongs to another program) and marks them ``failed`` with a message that names the folder, which is
kept; it never touches a job whose worker is still alive, so an app restart leaves running jobs running.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from numbers import Real
from pathlib import Path
from typing import Any

import core
from core.errors import StockPilotError
from core.store import Workspace

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
#: job kind -> "module:function" the worker runs
KINDS: dict[str, str] = {"finetune": "core.models.finetune:run_job"}

#: Progress is written to the database, and cancellation checked, at most once per this many seconds.
PROGRESS_INTERVAL_S = 0.5
#: How long a freshly started worker waits for its dispatcher to commit the claim before giving up.
CLAIM_WAIT_S = 20.0
LOG_FILE = "worker.log"

_JOBS_DIR = "jobs"
_REPO_ROOT = Path(core.__file__).resolve().parents[1]
_CREATE_TABLES = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        title TEXT NOT NULL,
        params_json TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        pid INTEGER,
        progress_json TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        result_json TEXT NOT NULL DEFAULT '{}',
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        max_running INTEGER NOT NULL DEFAULT 1
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at)",
)
_COLUMNS = (
    "id, kind, title, params_json, status, created_at, started_at, finished_at, pid, progress_json, error, "
    "result_json, cancel_requested, target"
)

logger = logging.getLogger(__name__)


class JobNotFound(LookupError):
    """No job with the given id exists in the workspace."""


class JobCancelled(Exception):
    """Raised inside the worker (by :meth:`JobContext.report`) once the job was asked to stop."""


@dataclass(frozen=True)
class Job:
    """One background job as stored in the workspace (a snapshot: call :meth:`JobRunner.get` for fresh state)."""

    id: str
    kind: str
    title: str
    params: dict = field(hash=False)
    status: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    pid: int | None
    progress: dict = field(hash=False)
    error: str | None
    result: dict = field(hash=False)
    folder: Path
    cancel_requested: bool
    #: The "module:function" the worker runs, fixed at submit time.
    target: str = ""

    @property
    def finished(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.status in FINISHED

    @property
    def active(self) -> bool:
        """True while the job is queued or running."""
        return self.status in (QUEUED, RUNNING)

    @property
    def log_path(self) -> Path:
        """The worker's log: its output, and the traceback when the job failed."""
        return self.folder / LOG_FILE


class JobContext:
    """What a job function gets besides its params: its folder, the workspace, and progress reporting."""

    def __init__(self, job: Job, workspace: Workspace) -> None:
        self.job = job
        self.folder = job.folder
        self.workspace = workspace
        self._progress: dict[str, Any] = dict(job.progress)
        self._started = time.monotonic()
        self._last_write = float("-inf")
        self._last_check = float("-inf")
        self._cancelled = False

    @property
    def progress(self) -> dict[str, Any]:
        """The progress reported so far (including what has not been written to the database yet)."""
        return dict(self._progress)

    def report(self, force: bool = False, **progress: Any) -> None:
        """Merge ``progress`` into the job's progress and raise :class:`JobCancelled` if a cancel was requested.

        Usual keys: ``step``, ``total``, ``epoch``, ``train_loss``, ``validation_loss``, ``message`` and
        ``fraction`` (0-1). ``elapsed_s`` is always set, and ``eta_s`` is estimated from ``fraction`` unless given.
        The database is written at most every ``PROGRESS_INTERVAL_S`` seconds, except with ``force=True`` or
        when ``fraction`` reaches 1; a requested cancel is noticed at those writes.
        """
        now = time.monotonic()
        self._merge(progress, now)
        fraction = progress.get("fraction")
        complete = isinstance(fraction, Real) and fraction >= 1
        if force or complete or now - self._last_write >= PROGRESS_INTERVAL_S:
            self._last_write = self._last_check = now
            self._write_and_check()
        if self._cancelled:
            raise JobCancelled(f"Job {self.job.id} was cancelled.")

    def cancelled(self) -> bool:
        """Whether a cancel was requested (the database is read at most every ``PROGRESS_INTERVAL_S`` seconds)."""
        now = time.monotonic()
        if not self._cancelled and now - self._last_check >= PROGRESS_INTERVAL_S:
            self._last_check = now
            try:
                with self.workspace._connect() as conn:
                    row = conn.execute("SELECT status, pid, cancel_requested FROM jobs WHERE id = ?", (self.job.id,))
                    self._cancelled = _stop_requested(row.fetchone(), self.job.pid)
            except sqlite3.OperationalError as exc:
                logger.warning("Could not check job %s for a cancel request: %s", self.job.id, exc)
        return self._cancelled

    def _merge(self, progress: dict[str, Any], now: float) -> None:
        elapsed = now - self._started
        self._progress.update(progress)
        self._progress["elapsed_s"] = round(elapsed, 2)
        if "eta_s" in progress:
            return
        fraction = self._progress.get("fraction")
        if isinstance(fraction, Real) and fraction > 0:
            self._progress["eta_s"] = round(elapsed * max(0.0, 1.0 - float(fraction)) / float(fraction), 2)
        elif "fraction" in progress:
            self._progress.pop("eta_s", None)  # the fraction was withdrawn, so its estimate is stale

    def _write_and_check(self) -> None:
        # A failed progress write must not end an hour of training: log it and try again at the next report.
        try:
            with self.workspace._transaction() as conn:
                conn.execute(
                    "UPDATE jobs SET progress_json = ? WHERE id = ? AND status = ? AND pid = ?",
                    (_to_json(self._progress), self.job.id, RUNNING, self.job.pid),
                )
                row = conn.execute("SELECT status, pid, cancel_requested FROM jobs WHERE id = ?", (self.job.id,))
                self._cancelled = _stop_requested(row.fetchone(), self.job.pid)
        except sqlite3.OperationalError as exc:
            logger.warning("Could not record the progress of job %s: %s", self.job.id, exc)


class JobRunner:
    """Submits, starts, watches and cleans up background jobs in one workspace; cheap to create, holds no state."""

    def __init__(
        self, workspace: Workspace | None = None, max_running: int = 1, kinds: dict[str, str] | None = None
    ) -> None:
        """Use ``workspace`` (default: the planner's, see :func:`core.store.workspace_root`).

        ``max_running`` caps how many jobs run at once; ``kinds`` maps each job kind to the ``"module:function"``
        its worker runs (default :data:`KINDS`).
        """
        if not isinstance(max_running, int) or max_running < 1:
            raise ValueError(f"max_running must be a whole number of at least 1; got {max_running!r}.")
        self.workspace = workspace if workspace is not None else Workspace()
        self.max_running = max_running
        self.kinds = dict(KINDS if kinds is None else kinds)
        self.jobs_dir = self.workspace.root / _JOBS_DIR
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        _create_schema(self.workspace)

    # --- submitting and reading ---------------------------------------------------------------------------------
    def submit(self, kind: str, params: dict, title: str = "") -> Job:
        """Queue a job of ``kind`` with JSON-serialisable ``params`` and start it if a slot is free."""
        if kind not in self.kinds:
            known = ", ".join(repr(name) for name in sorted(self.kinds)) or "none"
            raise ValueError(f"Unknown job kind {kind!r}; known kinds: {known}.")
        if not isinstance(params, dict):
            raise TypeError(f"Job params must be a dict; got {type(params).__name__}.")
        try:
            params_json = json.dumps(params, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Job params must be JSON-serialisable (text, numbers, lists, dicts); {exc}. "
                "Pass paths and dates as text and datasets by their id."
            ) from None
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        (self.jobs_dir / job_id).mkdir(parents=True, exist_ok=True)
        with self.workspace._transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, kind, target, title, params_json, status, created_at, max_running) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, kind, self.kinds[kind], title.strip() or kind, params_json, QUEUED, _now(),
                 self.max_running),
            )
        self.dispatch()
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        """The current state of one job; raises :class:`JobNotFound` if there is none with this id."""
        _reap_children()
        with self.workspace._connect() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(
                f"No job with id {job_id!r} in the workspace at {self.workspace.root}. "
                "It may have been deleted; pick one from the list of jobs."
            )
        return self._job(row)

    def list(self, kind: str | None = None, limit: int = 50) -> list[Job]:
        """The newest ``limit`` jobs, newest first, optionally only those of one ``kind``."""
        _reap_children()
        where, args = ("WHERE kind = ?", [kind]) if kind is not None else ("", [])
        with self.workspace._connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY created_at DESC, rowid DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [self._job(row) for row in rows]

    # --- controlling ----------------------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> Job:
        """Stop a job: a queued one is cancelled at once, a running one at its next progress report.

        A finished job is returned unchanged. A running job whose worker has died is marked failed, as by
        :meth:`recover`.
        """
        with self.workspace._transaction() as conn:
            row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is not None and row[0] == QUEUED:
                conn.execute(
                    "UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?", (CANCELLED, _now(), job_id)
                )
            elif row is not None and row[0] == RUNNING:
                conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        job = self.get(job_id)
        if job.status == RUNNING and not _worker_alive(job.pid, job.id) and self._mark_crashed(job):
            self.dispatch()
            job = self.get(job_id)
        return job

    def dispatch(self) -> list[Job]:
        """Start workers for queued jobs, oldest first, while fewer than ``max_running`` run; return those started."""
        _reap_children()
        started = []
        while True:
            with self.workspace._transaction() as conn:
                running = conn.execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (RUNNING,)).fetchone()[0]
                if running >= self.max_running:
                    break
                row = conn.execute(
                    "SELECT id FROM jobs WHERE status = ? ORDER BY created_at, rowid LIMIT 1", (QUEUED,)
                ).fetchone()
                if row is None:
                    break
                job_id = row[0]
                try:
                    process = self._start_worker(job_id)
                except OSError as exc:
                    conn.execute(
                        "UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status = ?",
                        (FAILED, _now(), f"Could not start the worker process: {exc}", job_id, QUEUED),
                    )
                    continue
                try:
                    conn.execute(
                        "UPDATE jobs SET status = ?, pid = ?, started_at = ? WHERE id = ? AND status = ?",
                        (RUNNING, process.pid, _now(), job_id, QUEUED),
                    )
                except BaseException:
                    process.kill()
                    raise
            # Committed: the worker, which waits for this claim, may now run.
            _remember_child(process)
            started.append(job_id)
        return [self.get(job_id) for job_id in started]

    def recover(self) -> list[Job]:
        """Mark running jobs whose worker process is gone as failed (keeping their folders), then dispatch().

        Returns the jobs marked failed. Jobs whose worker is still alive are left alone.
        """
        _reap_children()
        with self.workspace._connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE status = ?", (RUNNING,)).fetchall()
        recovered = [
            job.id
            for job in map(self._job, rows)
            if not _worker_alive(job.pid, job.id) and self._mark_crashed(job)
        ]
        self.dispatch()
        return [self.get(job_id) for job_id in recovered]

    def start_up(self) -> list[Job]:
        """What the app calls once when it starts: :meth:`recover` (which then dispatches queued jobs)."""
        return self.recover()

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.2) -> Job:
        """Block until the job is finished and return it; raises TimeoutError after ``timeout`` seconds.

        If the job's worker dies meanwhile, the job is marked failed (as by :meth:`recover`) and returned.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.status == RUNNING and not _worker_alive(job.pid, job.id):
                self._mark_crashed(job)
                job = self.get(job_id)
            if job.finished:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"Job {job_id} is still {job.status} after {timeout:g} s.")
            time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))

    def delete(self, job_id: str) -> None:
        """Remove a finished job: its row, then its folder. Queued or running jobs raise ValueError."""
        job = self.get(job_id)
        if not job.finished:
            raise ValueError(
                f"Job {job_id} is {job.status}; only finished jobs can be deleted. Cancel it and wait until it stops."
            )
        with self.workspace._transaction() as conn:
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(job.folder, ignore_errors=True)

    # --- internals --------------------------------------------------------------------------------------------------
    def _start_worker(self, job_id: str) -> subprocess.Popen:
        folder = self.jobs_dir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        # A worker shares the cores with the dashboard. OpenMP threads that spin while idle (torch's and
        # LightGBM's each have a pool) then starve whoever else is running: a LightGBM backtest after training
        # took minutes instead of seconds. Sleeping idle threads cost training about a fifth of its speed.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        with open(folder / LOG_FILE, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "core.jobs", str(self.workspace.root), job_id],
                cwd=_REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _mark_crashed(self, job: Job) -> bool:
        """Fail a running job whose worker is gone; False if its row changed meanwhile (e.g. it just finished)."""
        message = (
            f"The worker process stopped unexpectedly (pid {job.pid}) while the job was running; "
            f"its files are kept in {job.folder}."
        )
        with self.workspace._transaction() as conn:
            updated = conn.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status = ? AND pid IS ?",
                (FAILED, _now(), message, job.id, RUNNING, job.pid),
            ).rowcount
        return bool(updated)

    def _job(self, row: tuple) -> Job:
        (job_id, kind, title, params_json, status, created_at, started_at, finished_at, pid, progress_json, error,
         result_json, cancel_requested, target) = row
        return Job(
            id=job_id,
            kind=kind,
            title=title,
            params=json.loads(params_json),
            status=status,
            created_at=created_at,
            started_at=started_at,
            finished_at=finished_at,
            pid=pid,
            progress=json.loads(progress_json),
            error=error,
            result=json.loads(result_json),
            folder=self.jobs_dir / job_id,
            cancel_requested=bool(cancel_requested),
            target=target,
        )


# --- the worker ----------------------------------------------------------------------------------------------------
class _WorkerState:
    """Whether SIGTERM should interrupt the job function now, or only be remembered."""

    in_job = False
    terminated = False


def _on_sigterm(signum: int, frame: Any) -> None:
    _WorkerState.terminated = True
    if _WorkerState.in_job:
        raise JobCancelled("The worker received SIGTERM.")


def worker_main(argv: list[str]) -> int:
    """Run one job: ``python -m core.jobs <workspace_root> <job_id>``. Returns the process exit code."""
    if len(argv) != 2:
        print("usage: python -m core.jobs <workspace_root> <job_id>", file=sys.stderr)
        return 2
    root, job_id = argv
    signal.signal(signal.SIGTERM, _on_sigterm)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    runner = JobRunner(Workspace(root))
    job = _wait_for_claim(runner, job_id)
    if job is None:
        logger.error("Job %s was not claimed by this worker (pid %d); leaving it alone.", job_id, os.getpid())
        return 1
    max_running = _stored_max_running(runner.workspace, job_id)
    logger.info("Job %s (%s, %s) started in pid %d.", job.id, job.kind, job.target, os.getpid())

    context = JobContext(job, runner.workspace)
    status, error, result = FAILED, None, {}
    try:
        # From here SIGTERM raises JobCancelled; the handlers below switch that off before doing their own work.
        _WorkerState.in_job = True
        if _WorkerState.terminated:
            raise JobCancelled("The worker received SIGTERM.")
        function = _import_target(job.target)
        returned = function(job.params, context)
        _WorkerState.in_job = False
        result = {} if returned is None else returned
        if not isinstance(result, dict):
            raise TypeError(f"The job function {job.target} must return a dict; it returned {type(result).__name__}.")
        json.dumps(result, default=_json_default)
        status = SUCCEEDED
    except JobCancelled as exc:
        _WorkerState.in_job = False
        status = CANCELLED
        logger.info("Job %s cancelled: %s", job.id, exc)
    except BaseException as exc:  # every failure, even SystemExit, is recorded on the job
        _WorkerState.in_job = False
        status = FAILED
        error = str(exc) if isinstance(exc, StockPilotError) else _describe(exc)
        logger.exception("Job %s failed: %s", job.id, error)

    # The last throttled report may not have been written yet; a finished job is complete.
    progress = {**context.progress, "elapsed_s": round(time.monotonic() - context._started, 2)}
    if status == SUCCEEDED:
        progress.update(fraction=1.0, eta_s=0.0)
    if _finish(runner.workspace, job, status, error, result, progress):
        logger.info("Job %s %s.", job.id, status)
    else:
        logger.warning("Job %s is no longer running as pid %d; its final state was not recorded.", job.id, os.getpid())
    try:
        JobRunner(runner.workspace, max_running=max_running, kinds=runner.kinds).dispatch()
    except Exception:  # the next dispatcher starts it instead
        logger.exception("Could not start the next queued job.")
    return 0 if status == SUCCEEDED else 1


def _wait_for_claim(runner: JobRunner, job_id: str) -> Job | None:
    """The job once its dispatcher has committed the claim for this process; None if it never does."""
    deadline = time.monotonic() + CLAIM_WAIT_S
    while True:
        try:
            job = runner.get(job_id)
        except JobNotFound:
            return None
        if job.status == RUNNING and job.pid == os.getpid():
            return job
        if job.status != QUEUED or time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def _finish(workspace: Workspace, job: Job, status: str, error: str | None, result: dict, progress: dict) -> bool:
    """Record the final state, only if the row still belongs to this worker; retried while the database is busy."""
    for attempt in range(5):
        try:
            with workspace._transaction() as conn:
                return bool(
                    conn.execute(
                        "UPDATE jobs SET status = ?, finished_at = ?, error = ?, result_json = ?, progress_json = ? "
                        "WHERE id = ? AND status = ? AND pid = ?",
                        (status, _now(), error, _to_json(result), _to_json(progress), job.id, RUNNING, job.pid),
                    ).rowcount
                )
        except sqlite3.OperationalError:
            if attempt == 4:
                raise
            time.sleep(1.0)
    return False


def _stored_max_running(workspace: Workspace, job_id: str) -> int:
    with workspace._connect() as conn:
        row = conn.execute("SELECT max_running FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return max(1, int(row[0])) if row is not None else 1


def _import_target(target: str) -> Callable[[dict, JobContext], Any]:
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"A job target must look like 'package.module:function'; got {target!r}.")
    function = getattr(importlib.import_module(module_name), function_name, None)
    if function is None:
        raise AttributeError(f"Module {module_name!r} has no function {function_name!r}.")
    if not callable(function):
        raise TypeError(f"{target} is not a function.")
    return function


# --- worker processes ----------------------------------------------------------------------------------------------
_children: dict[int, subprocess.Popen] = {}
_children_lock = threading.Lock()


def _remember_child(process: subprocess.Popen) -> None:
    """Keep the Popen of a worker started here, so that it is reaped when it exits instead of lingering as a zombie."""
    with _children_lock:
        _children[process.pid] = process


def _reap_children() -> None:
    with _children_lock:
        for pid, process in list(_children.items()):
            if process.poll() is not None:
                del _children[pid]


def _worker_alive(pid: int | None, job_id: str) -> bool:
    """Whether ``pid`` is still the worker of ``job_id`` (not gone, not a zombie, not reused by another program)."""
    if not pid or pid <= 0:
        return False
    _reap_children()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, but another user's: /proc below tells whether it is our worker
    proc = Path("/proc")
    if not proc.is_dir():
        return True  # no /proc (macOS): trust the pid
    try:
        arguments = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return job_id.encode() in arguments  # a zombie's cmdline is empty


def _stop_requested(row: tuple | None, pid: int | None) -> bool:
    """Whether the worker should stop: cancel requested, or its row is gone or no longer its own."""
    if row is None:
        return True
    status, row_pid, cancel_requested = row
    return bool(cancel_requested) or status != RUNNING or row_pid != pid


# --- helpers -------------------------------------------------------------------------------------------------------
def _create_schema(workspace: Workspace) -> None:
    with workspace._transaction() as conn:
        for statement in _CREATE_TABLES:
            conn.execute(statement)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _describe(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays become numbers and lists; anything else its text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_json_default)


if __name__ == "__main__":
    # Import the module by name so that JobCancelled & co. are the classes job functions import, not __main__'s.
    from core.jobs import worker_main as _worker_main

    sys.exit(_worker_main(sys.argv[1:]))
