"""The pretraining corpus (its statistics, reproducibility, weekly/monthly sums, external series) and the pretraining
loop (the loss falls, a resumed run ends where an uninterrupted one does, the CLI writes a loadable checkpoint)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from core import schema
from core.cli import main
from core.data.corpus import CorpusRecipe, add_external_series, generate_corpus
from core.models.pretrain import PretrainConfig, pretrain
from core.models.tsfm import TSFMConfig, TSFMForecaster

TINY_MODEL = TSFMConfig(context_length=32, horizon=16, d_model=8, n_layers=1, ffn_dim=16, summary_dim=4,
                        covariate_hidden=8)


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus(CorpusRecipe(n_series=600, seed=3))


def zero_share(block) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.where(np.isfinite(block.sales), block.sales == 0, np.nan), axis=1)


def test_the_corpus_mixes_frequencies_and_records_its_recipe(corpus):
    counts = corpus.manifest["series_by_freq"]
    assert set(counts) == {schema.DAILY, schema.WEEKLY, schema.MONTHLY}
    assert sum(counts.values()) == 600 and counts[schema.DAILY] > counts[schema.WEEKLY] > counts[schema.MONTHLY]
    assert corpus.manifest["recipe"]["seed"] == 3
    json.dumps(corpus.manifest)  # recordable as is


def test_a_share_of_daily_series_is_intermittent_and_scales_vary(corpus):
    daily = corpus.blocks[schema.DAILY]
    zero_heavy = np.mean(zero_share(daily) > 0.3)
    assert 0.1 < zero_heavy < 0.6
    means = np.nanmean(daily.sales, axis=1)
    assert np.nanmax(means) / np.nanmin(means[means > 0]) > 1000


def test_weekly_and_yearly_seasonality_are_present(corpus):
    daily = corpus.blocks[schema.DAILY]
    weekday_strength = []
    for row in range(daily.n_series):
        values = daily.sales[row]
        finite = np.isfinite(values)
        if finite.sum() < 200 or np.nanmean(values) < 5:
            continue
        positions = np.flatnonzero(finite)
        profile = pd.Series(values[finite]).groupby(positions % 7).mean().to_numpy()
        weekday_strength.append(profile.std() / profile.mean())
    assert np.mean(np.array(weekday_strength) > 0.05) > 0.5

    weekly = corpus.blocks[schema.WEEKLY]
    correlations = []
    for row in range(weekly.n_series):
        values = weekly.sales[row]
        if np.isfinite(values).sum() < 130 or np.nanmean(values) < 20:
            continue
        log = np.log1p(values)
        now, year_ago = log[52:], log[:-52]
        both = np.isfinite(now) & np.isfinite(year_ago)
        detrended_now = now[both] - pd.Series(now[both]).rolling(13, center=True, min_periods=1).mean()
        detrended_ago = year_ago[both] - pd.Series(year_ago[both]).rolling(13, center=True, min_periods=1).mean()
        correlations.append(np.corrcoef(detrended_now, detrended_ago)[0, 1])
    assert np.nanmean(np.array(correlations) > 0.2) > 0.2  # noise alone: about 2%


def test_promotions_lift_sales_and_stockouts_are_flagged(corpus):
    daily = corpus.blocks[schema.DAILY]
    promo = daily.flags["promo"] > 0
    assert 0.01 < promo.mean() < 0.15
    lifted = []
    for row in np.flatnonzero(promo.any(axis=1)):
        on, off = daily.demand[row][promo[row]], daily.demand[row][~promo[row] & np.isfinite(daily.demand[row])]
        if off.mean() > 1:
            lifted.append(on.mean() > off.mean())
    assert np.mean(lifted) > 0.7
    unobserved_but_started = (daily.flags["observed"] == 0) & np.isfinite(daily.sales)
    assert unobserved_but_started.any()


def test_the_corpus_is_reproducible_and_weekly_sums_keep_units():
    first = generate_corpus(CorpusRecipe(n_series=40, seed=5))
    second = generate_corpus(CorpusRecipe(n_series=40, seed=5))
    for freq, block in first.blocks.items():
        np.testing.assert_array_equal(block.sales, second.blocks[freq].sales)
    weekly = first.blocks[schema.WEEKLY]
    finite = weekly.sales[np.isfinite(weekly.sales)]
    assert (finite >= 0).all()
    days_on_promo = weekly.flags["promo"] * 7
    np.testing.assert_allclose(days_on_promo, np.round(days_on_promo), atol=1e-5)


def test_external_series_are_added_without_their_last_periods(tmp_path, corpus):
    dates = pd.date_range("2024-01-01", periods=200)
    pd.DataFrame({"date": np.tile(dates, 2), "sku": np.repeat(["A", "B"], 200),
                  "units": np.arange(400) % 9}).to_csv(tmp_path / "shop.csv", index=False)
    small = generate_corpus(CorpusRecipe(n_series=20, seed=1))
    before = small.blocks[schema.DAILY].n_series
    add_external_series(small, tmp_path, holdout=30)
    assert small.blocks[schema.DAILY].n_series == before + 2
    record = small.manifest["external"][0]
    assert record["file"] == "shop.csv" and record["last_used"] == f"{dates[-31]:%Y-%m-%d}"


def test_pretraining_lowers_the_loss_and_resumes_where_it_stopped(tmp_path):
    recipe = CorpusRecipe(n_series=200, seed=2)
    settings = dict(batch_size=32, learning_rate=3e-3, warmup_steps=2, eval_every=4, checkpoint_every=4,
                    validation_windows=64, seed=2, threads=1)
    straight = pretrain(tmp_path / "straight", TINY_MODEL, PretrainConfig(steps=24, **settings), recipe)
    log = pd.read_csv(tmp_path / "straight" / "loss.csv")
    assert log["validation_loss"].iloc[-1] < log["validation_loss"].iloc[0]
    assert straight["steps"] == 24

    def killed_at_step_12(message: str) -> None:
        if message.startswith("step 12/"):
            raise KeyboardInterrupt  # as if the process died: the last checkpoint is step 8's

    with pytest.raises(KeyboardInterrupt):
        pretrain(tmp_path / "resumed", TINY_MODEL, PretrainConfig(steps=24, **settings), recipe,
                 progress=killed_at_step_12)
    resumed = pretrain(tmp_path / "resumed", TINY_MODEL, PretrainConfig(steps=24, **settings), recipe, resume=True)
    assert resumed["steps"] == 24
    assert pd.read_csv(tmp_path / "resumed" / "loss.csv")["step"].tolist() == log["step"].tolist()
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6)


def test_the_pretrain_command_writes_a_checkpoint_the_forecaster_loads(tmp_path, capsys):
    out = tmp_path / "ckpt"
    code = main(["pretrain", "--out", str(out), "--series", "120", "--steps", "3", "--eval-every", "3",
                 "--context-length", "32", "--horizon", "16", "--d-model", "8", "--layers", "1", "--threads", "1"])
    assert code == 0
    assert {"model.safetensors", "config.json", "loss.csv", "corpus.json", "training.json"} <= {
        p.name for p in out.iterdir()}
    assert "saved" in capsys.readouterr().err
    frame = pd.DataFrame({schema.UNIQUE_ID: "a", schema.DS: pd.date_range("2025-01-01", periods=60),
                          schema.Y: np.arange(60) % 5 + 1.0})
    forecast = TSFMForecaster(checkpoint=out).fit(frame).predict(7)
    assert len(forecast) == 7


def test_the_pretrain_command_rejects_a_context_shorter_than_a_patch(tmp_path, capsys):
    assert main(["pretrain", "--out", str(tmp_path), "--context-length", "4"]) == 64
    assert "context-length" in capsys.readouterr().err
