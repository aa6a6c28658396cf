"""Fine-tuning on the tiny committed checkpoint (tests/fixtures/tsfm_tiny): the loss falls, LoRA adapters reload
to identical forecasts, a stopped run resumes exactly, the validation window is never trained on, extra
known-future inputs start neutral; the registry, ``tsfm@`` model names, the CLI and the job around it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.cli import main
from core.data.calendar import DEFAULT_COUNTRIES
from core.data.synthetic import generate_series
from core.jobs import CANCELLED, FAILED, RUNNING, SUCCEEDED, JobRunner
from core.models import is_finetuned, label_of, make_model
from core.models.finetune import (
    ADAPTER_FILE,
    INFO_FILE,
    LOG_FIELDS,
    FinetuneConfig,
    FinetuneError,
    WindowSampler,
    choose_extra_features,
    compare,
    finetune,
    prepare_data,
    read_log,
    verdict,
)
from core.models.pretrain import evaluate
from core.models.tsfm import (
    WEIGHTS_FILE,
    CheckpointError,
    TSFMForecaster,
    extra_feature_grid,
    load_network,
    run_network,
)
from core.registry import ModelRegistry, RegistryError, resolve_checkpoint
from core.store import Workspace

TINY = Path(__file__).resolve().parent / "fixtures" / "tsfm_tiny"
QUICK = dict(max_steps=12, batch_size=16, eval_every=4, warmup_steps=2, checkpoint_every=4, patience=50,
             learning_rate=3e-3, horizon=10)


def core_frame(n_series: int = 4, n_periods: int = 150, seed: int = 0) -> pd.DataFrame:
    sales = generate_series(n_series, n_periods, seed=seed)
    return sales.rename(columns={schema.DATE: schema.DS, schema.UNITS: schema.Y}).assign(
        **{schema.UNIQUE_ID: lambda d: d[schema.SKU]}).drop(columns=schema.SKU)


def tune(tmp_path: Path, mode: str = "lora", frame: pd.DataFrame | None = None, name: str = "run", **settings):
    config = FinetuneConfig(mode=mode, **{**QUICK, **settings})
    return finetune(core_frame() if frame is None else frame, tmp_path / name, config, base=TINY,
                    known_future=(schema.PROMO, schema.PRICE))


def validation_batches(out: Path, frame: pd.DataFrame, known=(schema.PROMO, schema.PRICE)):
    """The fine-tuning windows of ``frame`` as the run in ``out`` laid them out (default countries)."""
    config = load_network(out, "cpu").config
    data = prepare_data(frame, config, 10, None, known, DEFAULT_COUNTRIES, TINY)
    return WindowSampler(data, config)


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_a_few_steps_lower_the_training_loss(tmp_path, mode):
    frame = core_frame()
    result = tune(tmp_path, mode, frame, max_steps=40, eval_every=40)
    sampler = validation_batches(tmp_path / "run", frame)
    rng = np.random.default_rng(123)
    training_windows = [sampler.batch(64, rng) for _ in range(4)]
    tuned = evaluate(result.network, training_windows)
    base = evaluate(load_network(TINY, "cpu"), training_windows)
    assert tuned < base * 0.97
    log = read_log(tmp_path / "run")
    assert list(log.columns) == list(LOG_FIELDS)
    assert log["step"].tolist() == [0, 40]
    assert np.isfinite(log["train_loss"].iloc[-1])


def test_a_lora_checkpoint_is_small_and_reloads_to_identical_forecasts(tmp_path):
    frame = core_frame()
    result = tune(tmp_path, "lora", frame)
    out = tmp_path / "run"
    assert (out / ADAPTER_FILE).is_file() and not (out / WEIGHTS_FILE).exists()
    assert (out / ADAPTER_FILE).stat().st_size < (TINY / WEIGHTS_FILE).stat().st_size
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 8
    reloaded = load_network(out, "cpu")
    assert reloaded is not result.network
    sampler = validation_batches(out, frame)
    inputs = sampler.validation()[0]
    np.testing.assert_array_equal(run_network(result.network, inputs), run_network(reloaded, inputs))
    # the adapter changed the forecast: it is not the base network under another name
    base_inputs = {k: v for k, v in inputs.items() if k != "extra"}
    assert not np.allclose(run_network(reloaded, inputs), run_network(load_network(TINY, "cpu"), base_inputs))
    first = TSFMForecaster(checkpoint=out).fit(frame).predict(7)
    second = TSFMForecaster(checkpoint=out).fit(frame).predict(7)
    pd.testing.assert_frame_equal(first, second)


def test_full_fine_tuning_writes_a_complete_checkpoint(tmp_path):
    tune(tmp_path, "lora")
    tune(tmp_path, "full")  # into the same folder: the earlier adapter must not shadow the new weights
    out = tmp_path / "run"
    assert (out / WEIGHTS_FILE).is_file() and not (out / ADAPTER_FILE).exists()
    info = json.loads((out / INFO_FILE).read_text())
    assert info["mode"] == "full" and info["base"] == str(TINY.resolve()) and info["steps"] == 12
    total = sum(p.numel() for p in load_network(out, "cpu").parameters())
    assert 0.99 * total < info["trainable_parameters"] <= total  # all but PatchTST's fixed position codes


def test_an_adapter_refuses_a_base_that_changed(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    for path in TINY.iterdir():
        (base / path.name).write_bytes(path.read_bytes())
    finetune(core_frame(), tmp_path / "run", FinetuneConfig(mode="lora", **QUICK), base=base)
    other = tmp_path / "other"
    finetune(core_frame(seed=3), other, FinetuneConfig(mode="full", **QUICK), base=TINY)
    (base / WEIGHTS_FILE).write_bytes((other / WEIGHTS_FILE).read_bytes())
    with pytest.raises(CheckpointError, match="other weights"):
        load_network(tmp_path / "run", "cpu")


def test_a_stopped_run_resumes_to_the_same_weights(tmp_path):
    frame = core_frame()
    whole = tune(tmp_path, "lora", frame, name="whole")

    class Killed(Exception):
        pass

    def stop_at_step_7(update):
        if update.get("step") == 7 and "train_loss" in update:
            raise Killed

    config = FinetuneConfig(mode="lora", **QUICK)
    with pytest.raises(Killed):
        finetune(frame, tmp_path / "cut", config, base=TINY, known_future=(schema.PROMO, schema.PRICE),
                 progress=stop_at_step_7)
    assert (tmp_path / "cut" / "state.pt").is_file() and not (tmp_path / "cut" / ADAPTER_FILE).exists()
    assert read_log(tmp_path / "cut")["step"].max() == 4
    resumed = finetune(frame, tmp_path / "cut", config, base=TINY, known_future=(schema.PROMO, schema.PRICE),
                       resume=True)
    for (name, a), (_, b) in zip(whole.network.state_dict().items(), resumed.network.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name
    pd.testing.assert_frame_equal(read_log(tmp_path / "whole").drop(columns="elapsed_s"),
                                  read_log(tmp_path / "cut").drop(columns="elapsed_s"))


def test_training_never_sees_the_validation_window(tmp_path):
    frame = core_frame()
    last = frame[schema.DS].max() - pd.Timedelta(days=9)
    frame.loc[frame[schema.DS] >= last, schema.Y] = 1e6  # the 10-day validation window: absurd sales
    config = load_network(TINY, "cpu").config
    data = prepare_data(frame, config, 10, None, (schema.PROMO, schema.PRICE), ("US",), TINY)
    sampler = WindowSampler(data, config)
    rng = np.random.default_rng(0)
    for _ in range(20):
        batch = sampler.batch(64, rng)
        assert np.nanmax(batch["target"] * batch["scale"][:, None]) < 1e5
        assert np.nanmax(batch["context"] * batch["scale"][:, None]) < 1e5
    validation = sampler.validation()[0]
    assert np.nanmin(validation["target"] * validation["scale"][:, None]) > 1e5


def test_extra_inputs_are_found_and_start_neutral(tmp_path):
    frame = core_frame(n_series=6).drop(columns=schema.CHANNEL)
    frame["snap"] = (frame[schema.DS].dt.day <= 10).astype(int)
    frame["event"] = np.where(frame[schema.DS].dt.day == 1, "Launch", "none")
    frame[schema.CATEGORY] = np.where(frame[schema.UNIQUE_ID].str[-1].isin(["0", "1", "2"]), "toys", "food")
    names = choose_extra_features(frame, (schema.PROMO, "snap", "event"))
    assert names == ["future:snap", "future:event=Launch", "static:category=food", "static:category=toys"]
    grid = extra_feature_grid(["future:snap", "future:event=Launch", "static:category=toys", "future:gone"],
                              {"snap": np.array([[0.0, 1.0, 250.0]]),
                               "event": np.array([["none", "Launch", None]], dtype=object)},
                              {schema.CATEGORY: np.array(["toys"], dtype=object)}, (1, 3))
    np.testing.assert_allclose(grid[0, :, 0], [0, 1, 1 + np.log(250)], rtol=1e-6)
    np.testing.assert_array_equal(grid[0, :, 1], [0, 1, 0])
    np.testing.assert_array_equal(grid[0, :, 2], [1, 1, 1])
    np.testing.assert_array_equal(grid[0, :, 3], [0, 0, 0])
    known = (schema.PROMO, schema.PRICE, "snap", "event")
    result = finetune(frame, tmp_path / "run", FinetuneConfig(mode="lora", **{**QUICK, "max_steps": 1}),
                      base=TINY, known_future=known)
    assert result.summary["extra_features"] == sorted(names)
    assert load_network(tmp_path / "run", "cpu").config.extra_features == tuple(sorted(names))
    # the extra head's last layer starts at zero: the untrained run's validation loss is the base's
    assert result.summary["zero_shot_validation_loss"] == pytest.approx(
        evaluate(load_network(TINY, "cpu"), _without_extra(validation_batches(tmp_path / "run", frame, known))),
        abs=1e-5)
    forecast = TSFMForecaster(checkpoint=tmp_path / "run", known_future=known).fit(frame).predict(5)
    assert forecast["tsfm"].notna().all()


def _without_extra(sampler):
    return [{k: v for k, v in batch.items() if k != "extra"} for batch in sampler.validation()]


def test_bad_settings_and_thin_data_get_clear_errors(tmp_path):
    with pytest.raises(FinetuneError, match="'lora' or 'full'"):
        FinetuneConfig(mode="half")
    short = core_frame(n_periods=15)
    with pytest.raises(FinetuneError, match="Too little history"):
        tune(tmp_path, frame=short)


def test_the_comparison_and_its_verdict(tmp_path):
    frame = core_frame(n_series=5, n_periods=120)
    tune(tmp_path, frame=frame)
    table = compare(frame, tmp_path / "run", known_future=(schema.PROMO, schema.PRICE), countries=("US",),
                    baselines=("snaive",))
    assert set(table["model"]) == {"finetuned", "tsfm", "snaive"}
    assert {"mase", "wql", "coverage_80", "label"} <= set(table.columns)
    rows = table.set_index("model")
    words = verdict(table)
    assert f"{rows.loc['finetuned', 'wql']:.3f}" in words and f"{rows.loc['tsfm', 'wql']:.3f}" in words
    better = table.copy()
    better.loc[better["model"] == "finetuned", ["wql", "mase"]] = [0.01, 0.01]
    assert verdict(better).startswith("Fine-tuning helped") and "most accurate" in verdict(better)
    worse = table.copy()
    worse.loc[worse["model"] == "finetuned", ["wql", "mase"]] = [9.0, 9.0]
    assert "worse" in verdict(worse) and "keep the zero-shot model" in verdict(worse)


def test_the_registry_versions_activation_and_model_names(tmp_path):
    frame = core_frame()
    tune(tmp_path, frame=frame, name="a")
    registry = ModelRegistry(Workspace())
    version = registry.register(tmp_path / "a", "shop-lora", "d1", "Shop", {"finetuned": {"wql": 0.2}})
    assert not (tmp_path / "a").exists() and version.folder.is_dir()
    assert [v.name for v in registry.list()] == ["shop-lora"] and version.mode == "lora"
    assert registry.active() is None
    registry.activate("shop-lora")
    assert registry.active().id == version.id
    assert resolve_checkpoint("shop-lora") == version.folder == resolve_checkpoint(version.id)
    model = make_model("tsfm@shop-lora", known_future=(schema.PROMO, schema.PRICE))
    assert is_finetuned(model.name) and label_of(model.name) == "Fine-tuned transformer (shop-lora)"
    forecast = model.fit(frame).predict(5)
    assert "tsfm@shop-lora" in forecast.columns and "tsfm@shop-lora-q50" in forecast.columns
    with pytest.raises(RegistryError, match="exists already"):
        tune(tmp_path, frame=frame, name="b")
        registry.register(tmp_path / "b", "shop-lora", "d1", "Shop")
    with pytest.raises(RegistryError, match="version name"):
        registry.register(tmp_path / "b", "bad name!", "d1", "Shop")
    with pytest.raises(RegistryError, match="neither a checkpoint folder nor"):
        resolve_checkpoint("nope")
    registry.delete("shop-lora")
    assert registry.list() == [] and registry.active() is None and not version.folder.exists()


def test_a_lora_version_built_on_another_cannot_be_deleted_first(tmp_path):
    frame = core_frame()
    tune(tmp_path, "full", frame, name="parent")
    registry = ModelRegistry(Workspace())
    parent = registry.register(tmp_path / "parent", "parent", "d1", "Shop")
    finetune(frame, tmp_path / "child", FinetuneConfig(mode="lora", **QUICK), base=parent.folder)
    child = registry.register(tmp_path / "child", "child", "d1", "Shop")
    with pytest.raises(RegistryError, match="is the base of child"):
        registry.delete("parent")
    assert TSFMForecaster(checkpoint=child.folder).fit(frame).predict(3)["tsfm"].notna().all()
    registry.delete("child")
    registry.delete("parent")


def test_cli_finetune_then_backtest_with_the_version(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    generate_series(4, 150, seed=1).to_csv(path, index=False)
    out = tmp_path / "ft"
    code = main(["finetune", str(path), "--mode", "lora", "--out", str(out), "--base", str(TINY), "--max-steps",
                 "6", "--horizon", "10", "--countries", "US", "--register", "cli-v1", "--activate"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Fine-tuned transformer" in captured.out and "zero-shot" in captured.out
    assert "Registered and activated as tsfm@cli-v1" in captured.err
    version = ModelRegistry().get("cli-v1")
    assert ModelRegistry().active().id == version.id
    assert json.loads((version.folder / INFO_FILE).read_text())["verdict"]
    report = tmp_path / "bt.csv"
    code = main(["backtest", str(path), "--models", "snaive,tsfm@cli-v1", "--windows", "1", "--horizon", "7",
                 "--out", str(report)])
    assert code == 0, capsys.readouterr().err
    assert "tsfm@cli-v1-q90" in pd.read_csv(report).columns
    assert main(["backtest", str(path), "--models", "tsfm@missing", "--windows", "1"]) == 2
    assert "neither a checkpoint folder nor a fine-tuned version" in capsys.readouterr().err


def job_setup(name: str, **settings) -> tuple[Workspace, JobRunner, dict]:
    """A workspace holding a small shop, a job runner on it, and ``finetune`` job params on the tiny model."""
    from core.datasets import save_result
    from core.data.validate import load_sales

    workspace = Workspace()
    data = generate_series(4, 150, seed=2).to_csv(index=False).encode()
    dataset = save_result(workspace, load_sales(data, filename="s.csv"), "Shop", "s.csv", data)
    params = {"dataset_id": dataset.id, "name": name, "mode": "lora", "horizon": 10, "base": str(TINY),
              "countries": ["US"], **settings}
    return workspace, JobRunner(workspace), params


def test_a_finetune_job_runs_in_a_worker_and_a_killed_one_leaves_the_workspace_consistent():
    workspace, runner, params = job_setup("job-v1", max_steps=6)
    job = runner.wait(runner.submit("finetune", params).id, timeout=240)
    assert job.status == SUCCEEDED, job.error
    assert job.result["version"] == "job-v1" and "Fine-tun" in job.result["verdict"]
    assert {row["model"] for row in job.result["comparison"]} >= {"finetuned", "tsfm"}
    assert ModelRegistry(workspace).get("job-v1").dataset_name == "Shop"

    slow = runner.submit("finetune", {**params, "name": "job-v2", "max_steps": 100000, "max_minutes": 30})
    deadline = time.monotonic() + 180
    while (runner.get(slow.id).progress.get("step") or 0) < 2:
        assert time.monotonic() < deadline and runner.get(slow.id).status in ("queued", RUNNING)
        time.sleep(0.2)
    os.kill(runner.get(slow.id).pid, signal.SIGKILL)
    time.sleep(0.5)
    JobRunner(workspace).recover()  # as at the next start-up
    dead = runner.get(slow.id)
    assert dead.status == FAILED and "stopped unexpectedly" in dead.error
    assert [v.name for v in ModelRegistry(workspace).list()] == ["job-v1"]
    assert (dead.folder / "model" / "log.csv").is_file()  # kept for a look, and to resume from

    cancelled = runner.submit("finetune", {**params, "name": "job-v3", "max_steps": 100000, "max_minutes": 30})
    while (runner.get(cancelled.id).progress.get("step") or 0) < 2:
        time.sleep(0.2)
    runner.cancel(cancelled.id)
    assert runner.wait(cancelled.id, timeout=60).status == CANCELLED
    assert [v.name for v in ModelRegistry(workspace).list()] == ["job-v1"]


def test_a_stopped_finetune_job_resumes_from_its_last_checkpoint():
    workspace, runner, params = job_setup("resumed", max_steps=100000, max_minutes=30)
    first = runner.submit("finetune", params)
    state = first.folder / "model" / "state.pt"
    deadline = time.monotonic() + 180
    while not state.is_file():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert runner.wait(runner.cancel(first.id).id, timeout=60).status == CANCELLED
    import torch

    saved_at = torch.load(state, weights_only=False)["step"]
    second = runner.wait(runner.submit("finetune", {**params, "max_steps": saved_at + 20,
                                                    "resume_dir": str(state.parent)}).id, timeout=240)
    assert second.status == SUCCEEDED, second.error
    assert second.result["steps"] == saved_at + 20
    log = read_log(ModelRegistry(workspace).get("resumed").folder)
    assert log["step"].iloc[0] == 0 and saved_at in log["step"].tolist() and log["step"].iloc[-1] == saved_at + 20
