"""Small job functions for tests/test_jobs.py, run by the job worker as ``tests.job_targets:<name>``.

``tests`` has no ``__init__.py``; the worker imports this module as part of the ``tests`` namespace package, found
through the repository root (its working folder and first PYTHONPATH entry).
"""

from __future__ import annotations

import os
import time

from core.errors import StockPilotError

#: Safety net: a job left behind by a broken test stops by itself after this long.
MAX_HANG_S = 60.0
STARTED_FILE = "started"


def count(params: dict, ctx) -> dict:
    """Report ``steps`` steps, ``delay`` seconds apart, and write ``out.txt``."""
    steps, delay = int(params.get("steps", 3)), float(params.get("delay", 0.05))
    for step in range(1, steps + 1):
        time.sleep(delay)
        ctx.report(step=step, total=steps, fraction=step / steps, message=f"step {step} of {steps}")
    (ctx.folder / "out.txt").write_text(f"counted to {steps}\n")
    return {"total": steps, "pid": os.getpid()}


def fail(params: dict, ctx) -> dict:
    """Raise a project error (message only) or a plain ValueError, after one progress report."""
    ctx.report(step=1, force=True)
    if params.get("project_error"):
        raise StockPilotError("The dataset 'shop' has no rows for the chosen stores.")
    raise ValueError(f"bad learning rate {params.get('learning_rate')!r}")


def hang(params: dict, ctx) -> dict:
    """Write a marker file with the pid, then report until cancelled (or, with ``quiet``, sleep without reporting)."""
    (ctx.folder / STARTED_FILE).write_text(str(os.getpid()))
    deadline = time.monotonic() + MAX_HANG_S
    while time.monotonic() < deadline:
        if not params.get("quiet"):
            ctx.report(message="waiting")
        time.sleep(0.02)
    return {"timed_out": True}
