"""The README promises two set-up commands; CI must run the second one verbatim."""

from __future__ import annotations

import re

from conftest import REPO


def _readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (REPO / "README.md").read_text(encoding="utf-8"))


def test_readme_opens_with_exactly_two_setup_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    opening = text.split("## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", opening, flags=re.S)
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert "streamlit run app.py" in commands[0] and "demo --load" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = _readme_commands()[1]
    ci_lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_requirements_are_all_pinned_with_the_cpu_torch():
    lines = [l.strip() for l in (REPO / "requirements.txt").read_text().splitlines()]
    packages = [l for l in lines if l and not l.startswith("#")]
    assert "torch==2.13.0" in packages
    assert all("==" in p for p in packages)
