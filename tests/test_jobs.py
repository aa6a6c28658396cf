"""Background jobs: worker processes, the state machine, cancelling, the concurrency limit and crash recovery."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from core import jobs
from core.jobs import (
    CANCELLED,
    FAILED,
    KINDS,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobCancelled,
    JobContext,
    JobNotFound,
    JobRunner,
)
from core.store import Workspace
from tests.job_targets import STARTED_FILE

TEST_KINDS = {name: f"tests.job_targets:{name}" for name in ("count", "fail", "hang")}
#: Generous: a worker starts a Python interpreter and imports pandas, on a machine that may be busy.
TIMEOUT_S = 30.0


def _wait_until(condition, timeout: float = TIMEOUT_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")
        time.sleep(0.02)


def _wait_started(job: jobs.Job) -> None:
    _wait_until((job.folder / STARTED_FILE).exists, what=f"job {job.id} to start")


def _set_row(home: Path, job_id: str, **values) -> None:
    """Change a job's row behind the runner's back, as another process (or a crash) would."""
    assignments = ", ".join(f"{column} = ?" for column in values)
    with contextlib.closing(sqlite3.connect(home / "workspace.sqlite", timeout=10)) as conn, conn:
        conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*values.values(), job_id))


def _stop_all_workers(home: Path) -> None:
    """Cancel queued jobs (so no worker starts another) and SIGKILL every worker still alive."""
    if not (home / "workspace.sqlite").exists():
        return
    runner = JobRunner(Workspace(home), kinds=TEST_KINDS)
    for _ in range(3):
        for job in runner.list(limit=1000):
            if job.status == QUEUED:
                runner.cancel(job.id)
        live = [
            job
            for job in runner.list(limit=1000)
            if job.pid and job.pid != os.getpid() and jobs._worker_alive(job.pid, job.id)
        ]
        if not live:
            return
        for job in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(job.pid, signal.SIGKILL)  # workers lead their own session, so pgid == pid
        _wait_until(lambda live=live: not any(jobs._worker_alive(j.pid, j.id) for j in live), what="workers to exit")


@pytest.fixture
def make_runner(workspace_home):
    """JobRunners on the test's workspace with the test job kinds; no worker outlives the test."""

    def make(max_running: int = 1) -> JobRunner:
        return JobRunner(Workspace(workspace_home), max_running=max_running, kinds=TEST_KINDS)

    yield make
    _stop_all_workers(workspace_home)


@pytest.fixture
def no_dispatch(monkeypatch):
    """Submitted jobs stay queued: no worker processes are started."""
    monkeypatch.setattr(JobRunner, "dispatch", lambda self: [])


def test_submitted_job_runs_in_a_worker_and_succeeds_with_result_and_progress(make_runner, workspace_home):
    runner = make_runner()
    job = runner.submit("count", {"steps": 3}, title="Count to three")

    assert re.fullmatch(r"job-[0-9a-f]{12}", job.id)
    assert job.status == RUNNING and job.pid and job.active
    done = runner.wait(job.id, timeout=TIMEOUT_S)

    assert done.status == SUCCEEDED, done.error
    assert done.finished and not done.active and done.error is None
    assert (done.kind, done.title, done.params, done.target) == (
        "count", "Count to three", {"steps": 3}, "tests.job_targets:count"
    )
    assert done.result == {"total": 3, "pid": job.pid}
    assert done.progress["step"] == 3 and done.progress["message"] == "step 3 of 3"
    assert done.progress["fraction"] == 1.0 and done.progress["eta_s"] == 0.0 and done.progress["elapsed_s"] > 0
    times = [datetime.fromisoformat(t) for t in (done.created_at, done.started_at, done.finished_at)]
    assert all(t.tzinfo == timezone.utc for t in times) and times == sorted(times)
    assert done.folder == workspace_home / "jobs" / job.id
    assert (done.folder / "out.txt").read_text() == "counted to 3\n"
    assert f"Job {job.id} succeeded." in done.log_path.read_text()
    assert runner.list() == [done]


def test_failing_job_is_failed_with_the_exception_type_and_message(make_runner):
    runner = make_runner(max_running=2)
    plain = runner.submit("fail", {"learning_rate": -1})
    project = runner.submit("fail", {"project_error": True})

    plain, project = runner.wait(plain.id, TIMEOUT_S), runner.wait(project.id, TIMEOUT_S)

    assert plain.status == FAILED and plain.error == "ValueError: bad learning rate -1"
    assert "Traceback" in plain.log_path.read_text() and plain.progress["step"] == 1
    assert project.status == FAILED
    assert project.error == "The dataset 'shop' has no rows for the chosen stores."  # project errors: message only


def test_cancelling_a_running_job_stops_it_at_its_next_report(make_runner):
    runner = make_runner()
    job = runner.submit("hang", {})
    _wait_started(job)

    cancelling = runner.cancel(job.id)
    assert cancelling.status == RUNNING and cancelling.cancel_requested

    done = runner.wait(job.id, timeout=TIMEOUT_S)
    assert done.status == CANCELLED and done.error is None and done.finished_at
    _wait_until(lambda: not jobs._worker_alive(job.pid, job.id), what="the worker to exit")
    assert runner.cancel(job.id) == done  # finished jobs are left as they are


def test_sigterm_cancels_the_job_even_between_reports(make_runner):
    runner = make_runner()
    job = runner.submit("hang", {"quiet": True})  # never reports, so only the signal can stop it
    _wait_started(job)

    os.kill(job.pid, signal.SIGTERM)

    assert runner.wait(job.id, timeout=TIMEOUT_S).status == CANCELLED


def test_cancelling_a_queued_job_takes_effect_at_once_and_it_never_starts(make_runner):
    runner = make_runner(max_running=1)
    blocker = runner.submit("hang", {})
    queued = runner.submit("count", {"steps": 1})
    assert queued.status == QUEUED

    cancelled = runner.cancel(queued.id)
    assert cancelled.status == CANCELLED and cancelled.finished_at and cancelled.pid is None

    runner.cancel(blocker.id)
    assert runner.wait(blocker.id, timeout=TIMEOUT_S).status == CANCELLED
    assert runner.get(queued.id) == cancelled


def test_second_job_waits_for_the_first_then_starts_by_itself(make_runner):
    runner = make_runner(max_running=1)
    first = runner.submit("count", {"steps": 4, "delay": 0.1})
    second = runner.submit("count", {"steps": 1})

    assert (first.status, second.status) == (RUNNING, QUEUED)
    assert runner.dispatch() == []  # the only slot is taken

    first = runner.wait(first.id, timeout=TIMEOUT_S)
    second = runner.wait(second.id, timeout=TIMEOUT_S)  # nothing here dispatches: the first worker started it
    assert (first.status, second.status) == (SUCCEEDED, SUCCEEDED)
    assert second.started_at >= first.finished_at and second.pid != first.pid


def test_killed_worker_is_recovered_as_failed_and_keeps_its_folder(make_runner, workspace_home):
    runner = make_runner(max_running=1)
    job = runner.submit("hang", {})
    behind = runner.submit("count", {"steps": 1})
    _wait_started(job)

    os.kill(job.pid, signal.SIGKILL)
    _wait_until(lambda: not jobs._worker_alive(job.pid, job.id), what="the worker to die")
    assert runner.get(job.id).status == RUNNING  # nothing notices until recover()

    recovered = JobRunner(Workspace(workspace_home), kinds=TEST_KINDS).recover()

    assert [r.id for r in recovered] == [job.id]
    failed = runner.get(job.id)
    assert failed.status == FAILED and failed.finished_at
    assert failed.error == (
        f"The worker process stopped unexpectedly (pid {job.pid}) while the job was running; "
        f"its files are kept in {job.folder}."
    )
    assert (job.folder / STARTED_FILE).exists() and job.log_path.exists()
    assert runner.wait(behind.id, timeout=TIMEOUT_S).status == SUCCEEDED  # recover() dispatched the queue
    assert [j.status for j in runner.list()] == [SUCCEEDED, FAILED]
    assert runner.recover() == []


def test_wait_notices_a_dead_worker_instead_of_waiting_forever(make_runner):
    runner = make_runner()
    job = runner.submit("hang", {"quiet": True})
    _wait_started(job)

    os.kill(job.pid, signal.SIGKILL)

    failed = runner.wait(job.id, timeout=TIMEOUT_S)
    assert failed.status == FAILED
    assert failed.error.startswith(f"The worker process stopped unexpectedly (pid {job.pid})")


def test_a_target_that_cannot_be_imported_fails_the_job_with_a_clear_error(workspace_home, make_runner):
    runner = JobRunner(Workspace(workspace_home), kinds={"broken": "tests.job_targets:no_such_function"})

    failed = runner.wait(runner.submit("broken", {}).id, timeout=TIMEOUT_S)

    assert failed.status == FAILED
    assert failed.error == "AttributeError: Module 'tests.job_targets' has no function 'no_such_function'."


def test_recover_fails_a_job_whose_pid_now_belongs_to_another_program_and_spares_live_workers(
    make_runner, workspace_home
):
    runner = make_runner(max_running=1)
    live = runner.submit("hang", {})
    stale = runner.submit("count", {"steps": 1})
    _wait_started(live)
    # As after a reboot: the row says running, and its pid is now used by an unrelated process (this one).
    _set_row(workspace_home, stale.id, status=RUNNING, pid=os.getpid())

    recovered = runner.recover()

    assert [r.id for r in recovered] == [stale.id]
    assert recovered[0].status == FAILED and f"(pid {os.getpid()})" in recovered[0].error
    assert runner.get(live.id).status == RUNNING
    runner.cancel(live.id)
    assert runner.wait(live.id, timeout=TIMEOUT_S).status == CANCELLED


def test_unknown_kind_bad_params_and_bad_limit_are_refused(make_runner, workspace_home):
    runner = make_runner()

    with pytest.raises(ValueError, match=r"Unknown job kind 'nope'; known kinds: 'count', 'fail', 'hang'\."):
        runner.submit("nope", {})
    with pytest.raises(ValueError, match="Job params must be JSON-serialisable"):
        runner.submit("count", {"when": datetime.now()})
    with pytest.raises(TypeError, match="must be a dict"):
        runner.submit("count", [1, 2])
    with pytest.raises(ValueError, match="max_running must be a whole number of at least 1; got 0"):
        JobRunner(Workspace(workspace_home), max_running=0)
    with pytest.raises(ValueError, match="known kinds: 'finetune'"):
        JobRunner(Workspace(workspace_home)).submit("nope", {})
    assert JobRunner(Workspace(workspace_home)).kinds == KINDS
    assert runner.list() == []


def test_only_finished_jobs_can_be_deleted_and_delete_removes_row_and_folder(make_runner):
    runner = make_runner()
    job = runner.submit("hang", {})
    _wait_started(job)

    with pytest.raises(ValueError, match=rf"Job {job.id} is running; only finished jobs can be deleted"):
        runner.delete(job.id)
    runner.cancel(job.id)
    runner.wait(job.id, timeout=TIMEOUT_S)
    runner.delete(job.id)

    assert not job.folder.exists()
    with pytest.raises(JobNotFound, match=rf"No job with id '{job.id}'"):
        runner.get(job.id)
    with pytest.raises(JobNotFound):
        runner.delete(job.id)


def test_list_is_newest_first_and_filters_by_kind(make_runner, no_dispatch):
    runner = make_runner()
    ids = [runner.submit(kind, {}).id for kind in ("count", "fail", "count")]

    assert [job.id for job in runner.list()] == ids[::-1]
    assert [job.id for job in runner.list(kind="count")] == [ids[2], ids[0]]
    assert [job.id for job in runner.list(limit=1)] == [ids[2]]
    assert all(job.status == QUEUED and job.title == job.kind for job in runner.list())


def test_report_merges_progress_estimates_eta_throttles_writes_and_raises_when_cancelled(
    make_runner, no_dispatch, workspace_home, monkeypatch
):
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL_S", 60.0)
    runner = make_runner()
    job_id = runner.submit("count", {}).id
    _set_row(workspace_home, job_id, status=RUNNING, pid=os.getpid())  # this process plays the worker
    context = JobContext(runner.get(job_id), runner.workspace)

    time.sleep(0.2)
    context.report(step=1, total=4, fraction=0.25, message="first")  # the first report is always written
    stored = runner.get(job_id).progress
    assert stored["step"] == 1 and stored["elapsed_s"] >= 0.2
    assert stored["eta_s"] == pytest.approx(3 * stored["elapsed_s"], abs=0.03)

    context.report(step=2, fraction=0.5)  # throttled: kept, not yet written
    assert runner.get(job_id).progress["step"] == 1 and context.progress["step"] == 2
    context.report(step=2, eta_s=99.0, force=True)
    assert runner.get(job_id).progress == {**context.progress, "message": "first", "eta_s": 99.0}
    context.report(fraction=None, force=True)  # no fraction, so no estimate
    assert "eta_s" not in runner.get(job_id).progress
    context.report(step=4, fraction=1.0)  # completion is always written
    assert runner.get(job_id).progress["step"] == 4 and runner.get(job_id).progress["eta_s"] == 0.0

    _set_row(workspace_home, job_id, cancel_requested=1)
    assert not context.cancelled()  # checked at most every PROGRESS_INTERVAL_S
    with pytest.raises(JobCancelled, match=f"Job {job_id} was cancelled"):
        context.report(message="still going?", force=True)
    assert context.cancelled()
