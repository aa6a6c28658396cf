"""What every benchmark script shares: running work in a fresh process (for its own peak memory), describing
the machine, and writing its section of ``benchmarks/RESULTS.md``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
SHARED_DATA = ROOT.parent / "shared" / "data"
M5_PATH = SHARED_DATA / "m5_store_dept" / "m5_store_dept_daily.csv.gz"
if str(ROOT) not in sys.path:  # the scripts run as `python benchmarks/<name>.py` and import core
    sys.path.insert(0, str(ROOT))


def run_child(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter; return the JSON its last stdout line prints, plus ``wall_s`` and its
    own peak resident memory ``peak_rss_mb`` (``os.wait4``: ``RUSAGE_CHILDREN`` would keep the largest so far)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark child failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result.update(wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024)  # Linux reports kilobytes
    return result


def machine() -> dict:
    from core.machine import cpu_name

    cpu = cpu_name()
    try:
        mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                          if line.startswith("MemTotal")))
    except (OSError, StopIteration):
        mem_kb = 0
    import pyarrow

    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(), "pandas": pd.__version__, "numpy": np.__version__,
        "pyarrow": pyarrow.__version__, "platform": platform.platform(),
    }


def machine_line(m: dict) -> str:
    return (f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; Python {m['python']}, "
            f"pandas {m['pandas']}, numpy {m['numpy']}.")


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) this benchmark's section of ``RESULTS.md``, leaving the others as they are."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else (
        "# Benchmark results\n\nEach section is written by its script in `benchmarks/`; rerun the script to "
        "refresh it. Figures are from the machine and date each section names.\n")
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS_MD.write_text(text, encoding="utf-8")


def publish(name: str, summary: dict, markdown: str, write: bool = True) -> None:
    """Print the section; unless ``write`` is off, keep the figures in ``results/<name>.json`` and the section in
    ``RESULTS.md``."""
    print(markdown)
    if write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / f"{name}.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
        write_section(name, markdown)


def demo_m5_parser(doc: str) -> argparse.ArgumentParser:
    """The options of a benchmark run on the demo shop and M5: ``--no-demo``, ``--no-m5``, ``--no-write``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--no-demo", action="store_true", help="skip the demo shop")
    parser.add_argument("--no-m5", action="store_true", help="skip ../shared/data/m5_store_dept")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md and results/ alone")
    return parser
