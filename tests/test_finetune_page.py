"""AppTest tests of the Fine-tuning page: the form, a real background fine-tuning (2 steps) started from it and
watched to its comparison, cancelling, bad names, and choosing the version the Forecast page uses."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from core.data.synthetic import generate_series
from core.datasets import DEMO_SALES, import_upload, load_demo_shop
from core.jobs import JobRunner
from core.models.finetune import FinetuneConfig
from core.registry import ModelRegistry
from core.store import Workspace

TIMEOUT = 120
JOB_WAIT_S = 180
VERSION = "small-v1"
def _app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)


def _finetune_page() -> AppTest:
    at = _app().run()
    at.switch_page("pages/finetune.py").run()
    return at


def _small_dataset(home: Path) -> None:
    """Four daily series of 240 days: a fine-tuning and its comparison take seconds."""
    data = generate_series(n_series=4, n_periods=240, seed=3).to_csv(index=False).encode()
    assert import_upload(Workspace(home), data, "small.csv", name="small shop").dataset is not None


def _start(at: AppTest, steps: int, name: str = "") -> AppTest:
    at.number_input(key="finetune_steps").set_value(steps)
    at.text_input(key="finetune_name").set_value(name)
    return at.button(key="start_finetune").click().run()


@dataclass
class Trained:
    home: Path
    started: AppTest  # the page right after the form was submitted
    job_id: str


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    """A workspace holding a small dataset and one 2-step fine-tuning started from the page and finished (the tests
    here share it; only the last one changes it)."""
    home = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOCKPILOT_HOME", str(home))
        _small_dataset(home)
        started = _start(_finetune_page(), steps=2, name=VERSION)
        jobs = JobRunner(Workspace(home)).list("finetune")
        assert len(jobs) == 1, [e.value for e in started.error]
        JobRunner(Workspace(home)).wait(jobs[0].id, timeout=JOB_WAIT_S)
    return Trained(home, started, jobs[0].id)


@pytest.fixture
def on_trained(trained, monkeypatch) -> Trained:
    monkeypatch.setenv("STOCKPILOT_HOME", str(trained.home))
    return trained


def test_without_a_dataset_the_page_points_to_the_data_page():
    at = _finetune_page()
    assert not at.exception
    assert at.title[0].value == "Fine-tuning"
    assert any("No dataset yet" in i.value and "Data page" in i.value for i in at.info)
    assert not at.button


@pytest.mark.skipif(not DEMO_SALES.exists(), reason="demo_data/sales.csv.gz not generated")
def test_the_form_offers_the_defaults_on_the_demo_shop():
    load_demo_shop(Workspace())
    at = _finetune_page()
    assert not at.exception and not at.error
    assert at.radio(key="finetune_mode").value == "lora"
    assert at.number_input(key="finetune_steps").value == FinetuneConfig().max_steps
    assert at.number_input(key="finetune_minutes").value == 10.0
    name = at.text_input(key="finetune_name")
    assert name.value == "" and name.placeholder.startswith("demo-shop-<mode>-")
    assert at.button(key="start_finetune").label == "Fine-tune on my data"
    assert not at.button(key="start_finetune").disabled
    assert any("No fine-tuned versions yet" in i.value for i in at.info)


def test_submitting_starts_a_background_job_and_shows_its_progress(on_trained):
    at = on_trained.started
    assert not at.exception and not at.error
    assert any(VERSION in t.value and "keep working" in t.value for t in at.toast)
    assert any(VERSION in m.value and ("training" in m.value or "waiting" in m.value) for m in at.markdown)
    assert len(at.progress) == 1
    assert at.button(key="cancel_finetune")
    assert at.button(key="start_finetune").disabled  # one fine-tuning per dataset at a time
    assert any("already running" in c.value for c in at.caption)
    job = JobRunner(Workspace(on_trained.home)).get(on_trained.job_id)
    assert job.params == {"dataset_id": job.params["dataset_id"], "name": VERSION, "mode": "lora", "max_steps": 2,
                          "max_minutes": 10.0}


def test_a_finished_fine_tuning_shows_the_comparison_verdict_loss_chart_and_log(on_trained):
    job = JobRunner(Workspace(on_trained.home)).get(on_trained.job_id)
    assert job.status == "succeeded", job.error
    at = _finetune_page()
    assert not at.exception and not at.error
    assert any("finished" in m.value for m in at.markdown)
    assert not at.progress and not at.button(key="start_finetune").disabled
    assert len(at.get("plotly_chart")) == 1
    comparison = at.dataframe[0].value
    assert list(comparison.columns) == ["Model", "MASE", "relMASE", "WQL", "80% coverage", "95% coverage"]
    assert {f"Fine-tuned transformer ({VERSION})", "Pretrained transformer (zero-shot)", "Seasonal naive",
            "Exponential smoothing (ETS)", "LightGBM global model"} == set(comparison["Model"])
    assert comparison["80% coverage"].between(0, 100).all() and comparison["80% coverage"].max() > 1  # percent
    verdict = job.result["verdict"]
    assert any(verdict == v.value for v in [*at.success, *at.info])
    assert len(at.get("download_button")) == 1
    versions = at.dataframe[1].value
    assert list(versions["Version"]) == [VERSION] and list(versions["Active"]) == [""]
    assert versions["Dataset"].iloc[0] == "small shop" and versions["Mode"].iloc[0] == "lora"


def test_a_bad_or_taken_version_name_is_explained_and_starts_nothing(on_trained):
    at = _start(_finetune_page(), steps=2, name="my model!")
    assert any("1-48 letters, digits" in e.value and "'my model!'" in e.value for e in at.error)
    at = _start(at, steps=2, name=VERSION)
    assert any(f"A version named '{VERSION}' exists already" in e.value for e in at.error)
    assert len(JobRunner(Workspace(on_trained.home)).list("finetune")) == 1


def test_a_running_fine_tuning_can_be_cancelled(workspace_home):
    _small_dataset(workspace_home)
    at = _start(_finetune_page(), steps=5_000)
    runner = JobRunner(Workspace(workspace_home))
    (job,) = runner.list("finetune")
    assert job.active and job.params["name"].startswith("small-shop-lora-")
    at.button(key="cancel_finetune").click().run()
    assert not at.exception
    assert runner.wait(job.id, timeout=60).status == "cancelled"
    at.run()
    assert any("was cancelled" in i.value for i in at.info)
    assert not at.button(key="start_finetune").disabled
    assert not ModelRegistry(Workspace(workspace_home)).list()


def test_a_stopped_fine_tuning_can_be_resumed_from_its_checkpoint(workspace_home):
    _small_dataset(workspace_home)
    at = _start(_finetune_page(), steps=5_000, name="resumable")
    runner = JobRunner(Workspace(workspace_home))
    (job,) = runner.list("finetune")
    state = job.folder / "model" / "state.pt"
    deadline = time.monotonic() + JOB_WAIT_S
    while not state.is_file():  # written every 40 steps
        assert time.monotonic() < deadline and runner.get(job.id).active
        time.sleep(0.5)
    at.button(key="cancel_finetune").click().run()
    assert runner.wait(job.id, timeout=60).status == "cancelled"
    at.run()
    at.button(key="resume_finetune").click().run()
    assert not at.exception and not at.error
    resumed = runner.list("finetune")[0]
    assert resumed.id != job.id and resumed.params["resume_dir"] == str(state.parent)
    assert resumed.params["name"] == "resumable"
    runner.wait(runner.cancel(resumed.id).id, timeout=60)


def test_the_active_version_drives_the_forecast_page(on_trained):  # last: it changes the shared workspace
    at = _finetune_page()
    assert at.selectbox(key="finetune_version").value == ModelRegistry(Workspace(on_trained.home)).get(VERSION).id
    at.button(key="activate_version").click().run()
    assert not at.exception and not at.error
    assert ModelRegistry(Workspace(on_trained.home)).active().name == VERSION
    assert list(at.dataframe[-1].value["Active"]) == ["✓"]

    forecast = _app().run()
    forecast.switch_page("pages/forecast.py").run()
    models = forecast.multiselect(key="forecast_models")
    assert f"tsfm@{VERSION}" in models.value
    assert models.options.index(f"Fine-tuned transformer ({VERSION})") == models.options.index(
        "Pretrained transformer (zero-shot)") + 1
    assert any(VERSION in c.value and "Fine-tuning page" in c.value for c in forecast.caption)
    forecast.number_input(key="horizon_D").set_value(7).run()
    forecast.multiselect(key="forecast_models").set_value(["snaive", f"tsfm@{VERSION}"])
    forecast.number_input(key="forecast_windows").set_value(1)
    forecast.button(key="run_backtest").click().run()
    assert not forecast.exception and not forecast.error
    assert f"Fine-tuned transformer ({VERSION})" in set(forecast.dataframe[0].value["Model"])

    at.button(key="use_zero_shot").click().run()
    assert ModelRegistry(Workspace(on_trained.home)).active() is None
    forecast = _app().run()
    forecast.switch_page("pages/forecast.py").run()
    assert f"tsfm@{VERSION}" not in forecast.multiselect(key="forecast_models").value

    runner = JobRunner(Workspace(on_trained.home))  # a second version that builds on the first
    job = runner.submit("finetune", {"dataset_id": runner.get(on_trained.job_id).params["dataset_id"],
                                     "name": "small-v2", "mode": "lora", "max_steps": 1, "base": VERSION})
    assert runner.wait(job.id, timeout=JOB_WAIT_S).status == "succeeded"
    registry = ModelRegistry(Workspace(on_trained.home))
    at.run()
    at.selectbox(key="finetune_version").set_value(registry.get(VERSION).id).run()
    at.button(key="delete_version").click().run()
    assert not at.exception
    assert any(f"Version '{VERSION}' is the base of small-v2: delete those first" in e.value for e in at.error)
    for name in ("small-v2", VERSION):
        at.selectbox(key="finetune_version").set_value(registry.get(name).id).run()
        at.button(key="delete_version").click().run()
        assert not at.exception and not at.error
    assert not registry.list()
    assert any("No fine-tuned versions yet" in i.value for i in at.info)
