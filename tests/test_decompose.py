"""Decomposition, strength, event effects and anomalies (core.decompose, core.anomalies), their figures and the
``decompose`` command."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from core import schema
from core.anomalies import EVENT_KIND, PROMOTION, STOCKOUT, UNEXPLAINED, decompose_all, find_anomalies
from core.cli_decompose import add_decompose_command
from core.data.calendar import event_features
from core.data.synthetic import generate_series
from core.decompose import (BASELINE, IN_FIT, OBSERVED, REMAINDER, TREND, WEEKLY, YEARLY, DecomposeSettings,
                            DecompositionError, calendar_marks, decompose, event_effects, event_windows,
                            filter_strength, panel_decompose, plan_seasons, seasonal_profile, series_frame,
                            strength_table)
from core.errors import DataError
from core.plots_seasonality import decomposition_figure, event_effects_figure, profile_figure

DEMO = REPO / "demo_data"
NO_HOLIDAYS = DecomposeSettings(countries=())


def _years(dates: pd.DatetimeIndex) -> np.ndarray:
    return (dates.values.astype("datetime64[D]").astype(np.int64)) / 365.25


def _seasonal_series(seed: int = 0, n_days: int = 1096, noise: float = 5.0):
    """100 units a day, a gentle trend, a weekday wave of amplitude 10 and a yearly wave of amplitude 30."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-01", periods=n_days, freq="D")
    trend = 100 + 0.02 * np.arange(n_days)
    weekly = 10 * np.sin(2 * np.pi * dates.day_of_week.to_numpy() / 7)
    yearly = 30 * np.cos(2 * np.pi * (_years(dates) - 0.3))
    y = trend + weekly + yearly + rng.normal(0, noise, n_days)
    return pd.Series(y, index=dates), trend, weekly, yearly


def _planted_series(seed: int, n_days: int = 1096, level: float = 40.0):
    """A daily count series with weekly and yearly cycles, 11.11 (x3) and 618 (x2) every year, a dozen 4-day
    promotions (x2) and 15 one-off spikes and dips on ordinary days. Returns the series frame, the positions of
    the one-offs and those of the promotion and event days."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-01", periods=n_days, freq="D")
    events = event_features(dates, countries=("CN",))
    singles, mid_year = events["ev_singles_day"].to_numpy() > 0, events["ev_mid_year_618"].to_numpy() > 0
    mean = level * np.exp(0.1 * np.arange(n_days) / 365 + 0.3 * np.cos(2 * np.pi * (_years(dates) - 0.55))
                          + 0.15 * np.cos(2 * np.pi * (dates.day_of_week.to_numpy() - 5) / 7))
    mean *= np.where(singles, 3.0, 1.0) * np.where(mid_year, 2.0, 1.0)
    promo = np.zeros(n_days, dtype=bool)
    for start in rng.choice(np.arange(30, n_days - 30), 12, replace=False):
        promo[start: start + 4] = True
    mean *= np.where(promo, 2.0, 1.0)
    y = rng.poisson(mean).astype(float)
    ordinary = (calendar_marks(dates, schema.DAILY)["event"].to_numpy() == "") & (
        np.convolve(promo, np.ones(21), "same") == 0)
    planted = rng.choice(np.flatnonzero(ordinary), 15, replace=False)
    up = rng.random(15) < 0.5
    y[planted] = np.where(up, y[planted] + 6 * np.sqrt(mean[planted]) + 0.5 * mean[planted],
                          np.maximum(0, y[planted] - 0.7 * mean[planted]))
    frame = pd.DataFrame({schema.DS: dates, schema.Y: y, "promo_share": promo.astype(float),
                          "stockout_share": 0.0})
    return frame, set(planted.tolist()), set(np.flatnonzero(promo | singles | mid_year).tolist())


def _panel_frame(n_series: int = 6, n_periods: int = 1096, seed: int = 4) -> pd.DataFrame:
    raw = generate_series(n_series=n_series, n_periods=n_periods, seed=seed)
    frame = raw.rename(columns={"date": schema.DS, "units": schema.Y}).astype({schema.Y: float})
    frame.insert(0, schema.UNIQUE_ID, frame["sku"] + " | " + frame["channel"])
    return frame


# --- decomposition ----------------------------------------------------------------------------------------------------

def test_known_weekly_and_yearly_amplitudes_are_recovered():
    series, trend, weekly, yearly = _seasonal_series()
    result = decompose(series, schema.DAILY, NO_HOLIDAYS)
    table = result.components
    assert [s.name for s in result.seasons] == [WEEKLY, YEARLY]
    assert np.sqrt(2) * table["seasonal_yearly"].std() == pytest.approx(30, rel=0.1)
    assert np.sqrt(np.mean((table["seasonal_yearly"] - yearly) ** 2)) < 0.1 * 30
    true_weekday = pd.Series(weekly).groupby(series.index.day_of_week).mean()
    profile = seasonal_profile(result).query("component == 'weekly'").set_index("position")["effect"]
    assert np.abs(profile - true_weekday).max() < 0.15 * 10
    assert np.abs(table[TREND] - trend).max() < 5
    assert result.strength[YEARLY] > 0.9 and result.strength[WEEKLY] > 0.5
    assert np.allclose(table[BASELINE] + table[REMAINDER], table[OBSERVED])


def test_white_noise_gets_no_yearly_strength():
    """STL's cycle-subseries smoother on three yearly cycles would fit noise (strength ~0.7); the harmonic does not."""
    rng = np.random.default_rng(3)
    series = pd.Series(50 + rng.normal(0, 5, 1096), index=pd.date_range("2022-01-01", periods=1096, freq="D"))
    assert decompose(series, schema.DAILY, NO_HOLIDAYS).strength[YEARLY] < 0.1


def test_stl_can_be_forced_for_the_yearly_cycle_and_robust_can_be_turned_off():
    series, *_ = _seasonal_series(seed=1)
    result = decompose(series, schema.DAILY, DecomposeSettings(countries=(), yearly="stl", robust=False))
    assert result.method == "MSTL: weekly by STL, yearly by STL"
    assert np.isfinite(result.components["seasonal_yearly"]).all()


def test_missing_values_are_filled_for_the_fit_and_never_flagged():
    series, *_ = _seasonal_series(seed=2)
    series.iloc[200:230] = np.nan
    series.iloc[500] = np.nan
    result = decompose(series, schema.DAILY, NO_HOLIDAYS)
    table = result.components
    assert table[TREND].notna().all() and table["seasonal_weekly"].notna().all()
    assert table[REMAINDER].iloc[200:230].isna().all() and not table[IN_FIT].iloc[200:230].any()
    flagged = set(find_anomalies(result, threshold=0.5)[schema.DS])
    assert not flagged & set(series.index[200:230]) and series.index[500] not in flagged


def test_short_daily_history_leaves_out_the_yearly_cycle_with_a_note():
    series, *_ = _seasonal_series(n_days=400)
    result = decompose(series, schema.DAILY, NO_HOLIDAYS)
    assert [s.name for s in result.seasons] == [WEEKLY]
    assert "yearly cycle needs at least two years" in result.notes[0] and "730" in result.notes[0]


def test_weekly_data_decompose_with_a_yearly_cycle_when_two_years_allow():
    dates = pd.date_range("2021-01-04", periods=156, freq="7D")
    yearly = 200 * np.cos(2 * np.pi * (_years(dates) - 0.2))
    y = 1000 + yearly + np.random.default_rng(5).normal(0, 30, len(dates))
    result = decompose(pd.Series(y, index=dates), schema.WEEKLY, NO_HOLIDAYS)
    assert [(s.name, s.period) for s in result.seasons] == [(YEARLY, 52)]
    assert np.sqrt(2) * result.components["seasonal_yearly"].std() == pytest.approx(200, rel=0.1)
    profile = seasonal_profile(result)
    assert profile["label"].iloc[0] == "W01" and len(profile) == 52

    short = decompose(pd.Series(y[:80], index=dates[:80]), schema.WEEKLY, NO_HOLIDAYS)
    assert short.seasons == () and short.method == "Trend only: loess trend, robust"
    assert "104 weekly periods" in short.notes[0] and "trend only" in short.notes[0]


def test_plan_seasons_and_too_short_series():
    assert [s.method for s in plan_seasons(schema.DAILY, 3000)[0]] == ["stl", "stl"]
    assert plan_seasons(schema.MONTHLY, 30)[0][0].period == 12
    with pytest.raises(DecompositionError, match="has 5 observed periods; a decomposition needs at least 8"):
        decompose(pd.Series([1.0] * 5, index=pd.date_range("2024-01-01", periods=5)), schema.DAILY)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="yearly must be 'auto', 'stl' or 'harmonic'"):
        DecomposeSettings(yearly="fourier")
    with pytest.raises(ValueError, match="seasonal_window must be an odd number"):
        DecomposeSettings(seasonal_window=8)
    with pytest.raises(ValueError, match=r"No public holiday calendar for \['XX'\]"):
        DecomposeSettings(countries=("XX",))


# --- series and aggregates ------------------------------------------------------------------------------------------

def test_series_frame_sums_groups_and_filters():
    frame = _panel_frame(n_series=3, n_periods=30)
    frame["category"] = ["a", "a", "b"] * 30
    frame["stockout"] = 0
    total = series_frame(frame)
    assert total[schema.Y].sum() == frame[schema.Y].sum() and (total["n_series"] == 3).all()
    one = series_frame(frame, "SKU", "SKU-000 | app")
    assert one[schema.Y].tolist() == frame.loc[frame["sku"] == "SKU-000", schema.Y].tolist()
    assert set(one["promo_share"]) <= {0.0, 1.0}
    tmall = series_frame(frame, "Total", filters={"channel": ["tmall"]})
    assert tmall[schema.Y].sum() == frame.loc[frame["channel"] == "tmall", schema.Y].sum()
    with pytest.raises(DecompositionError, match="Cannot filter on 'colour'"):
        series_frame(frame, filters={"colour": ["red"]})
    with pytest.raises(DecompositionError, match="No sales rows for Category 'zzz'"):
        series_frame(frame, "Category", "zzz")


def test_event_windows_on_daily_and_weekly_grids():
    daily = event_windows(pd.date_range("2024-10-01", "2024-11-30"), schema.DAILY)
    singles = daily.loc[daily["event"] == "singles_day"]
    assert singles.groupby("window").size().to_dict() == {"pre": 10, "day": 1, "post": 3}
    weeks = pd.date_range("2024-10-07", "2024-11-25", freq="7D")
    weekly = event_windows(weeks, schema.WEEKLY)
    singles = weekly.loc[weekly["event"] == "singles_day"]
    day_weeks = set(singles.loc[singles["window"] == "day", "position"])
    assert [weeks[p] for p in day_weeks] == [pd.Timestamp("2024-11-11")]
    assert not day_weeks & set(singles.loc[singles["window"] != "day", "position"])


# --- anomalies --------------------------------------------------------------------------------------------------------

def test_planted_anomalies_are_found_and_promotions_and_events_are_explained():
    found = planted_total = true_positive = 0
    for seed in range(5):
        frame, planted, explained = _planted_series(seed)
        flags = find_anomalies(decompose(frame, schema.DAILY, DecomposeSettings()))
        position = {d: i for i, d in enumerate(frame[schema.DS])}
        unexplained = {position[d] for d in flags.loc[flags["anomaly"], schema.DS]}
        assert not unexplained & explained, "a planted promotion or event day was called an anomaly"
        kinds = flags.set_index(flags[schema.DS].map(position))["kind"]
        assert set(kinds[kinds.index.isin(explained)]) <= {PROMOTION, EVENT_KIND}
        found += len(unexplained)
        planted_total += len(planted)
        true_positive += len(unexplained & planted)
    precision, recall = true_positive / found, true_positive / planted_total
    assert precision >= 0.8 and recall >= 0.8, (precision, recall)


def test_stockouts_are_flagged_from_on_hand_and_from_zero_runs_in_fast_movers():
    frame, _, _ = _planted_series(7)
    frame.loc[300:303, schema.Y] = 0.0
    frame.loc[300:303, "stockout_share"] = 1.0  # on_hand said so
    frame.loc[600:604, schema.Y] = 0.0  # nobody said so, but 40 a day do not stop for five days by chance
    flags = find_anomalies(decompose(frame, schema.DAILY, DecomposeSettings()))
    by_day = flags.set_index(schema.DS)
    capped, run = frame[schema.DS].iloc[300:304], frame[schema.DS].iloc[600:605]
    assert (by_day.loc[capped, "kind"] == STOCKOUT).all()
    assert by_day.loc[capped, "reason"].str.startswith("stock-out: sales capped").all()
    assert (by_day.loc[run, "reason"] == "stock-out suspected: 5 periods in a row without sales").all()
    assert not by_day.loc[[*capped, *run], "anomaly"].any()


def test_intermittent_series_get_no_spike_flags():
    rng = np.random.default_rng(0)
    dates = pd.date_range("2023-01-01", periods=800, freq="D")
    y = np.where(rng.random(800) < 0.1, rng.integers(1, 4, 800), 0).astype(float)
    flags = find_anomalies(decompose(pd.Series(y, index=dates), schema.DAILY, NO_HOLIDAYS))
    assert not flags["anomaly"].any()


def test_an_aggregate_says_how_much_of_it_was_promoted():
    frame = _panel_frame(n_series=4, n_periods=800, seed=8)
    frame.loc[(frame[schema.DS] == "2025-01-15") & (frame["sku"] == "SKU-001"), [schema.Y, "promo"]] = [5000, 0.3]
    flags = find_anomalies(decompose(series_frame(frame), schema.DAILY, NO_HOLIDAYS))
    reason = flags.set_index(schema.DS).loc[pd.Timestamp("2025-01-15"), "reason"]
    assert reason.startswith("promotion (") and reason.endswith("% of units)")


# --- every series at once ---------------------------------------------------------------------------------------------

def test_panel_strength_agrees_with_each_series_decomposition():
    frame = _panel_frame()
    settings = DecomposeSettings(countries=())
    panel = panel_decompose(frame, schema.DAILY, settings, chunk_size=4)
    table = strength_table(panel, frame).set_index(schema.UNIQUE_ID)
    assert len(table) == 6 and table.index.is_unique
    for unique_id, part in frame.groupby(schema.UNIQUE_ID):
        single = decompose(series_frame(part), schema.DAILY, settings).strength
        assert table.loc[unique_id, "yearly_strength"] == pytest.approx(single[YEARLY], abs=0.1)
        assert table.loc[unique_id, "trend_strength"] == pytest.approx(single[TREND], abs=0.15)
    assert set(table["peak_weekday"]) <= {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
    table = table.reset_index().assign(category=["a", "b"] * 3)
    assert filter_strength(table, "sku-00")[schema.UNIQUE_ID].tolist() == table[schema.UNIQUE_ID].tolist()
    assert set(filter_strength(table, categories=["b"])["category"]) == {"b"}
    strongest = table["yearly_strength"].max()
    assert filter_strength(table, min_yearly=strongest)["yearly_strength"].tolist() == [strongest]


def test_progress_is_reported_per_chunk_and_short_series_get_no_yearly_strength():
    frame = _panel_frame(n_series=5, n_periods=900)
    frame = frame.loc[~((frame["sku"] == "SKU-004") & (frame[schema.DS] < "2024-12-01"))]  # a new SKU
    calls = []
    panel = panel_decompose(frame, schema.DAILY, NO_HOLIDAYS, progress=lambda f, m: calls.append(f), chunk_size=2)
    assert calls == [pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    strength = panel.strength.set_index(schema.UNIQUE_ID)
    assert np.isnan(strength.loc["SKU-004 | tmall", "yearly_strength"])
    assert strength.drop("SKU-004 | tmall")["yearly_strength"].notna().all()


@pytest.mark.skipif(not (DEMO / "sales.csv.gz").exists(), reason="demo_data not generated")
def test_the_demo_shops_planted_singles_day_effect_is_recovered():
    from core.data.validate import load_sales

    frame = load_sales(DEMO / "sales.csv.gz").frame
    truth = json.loads((DEMO / "ground_truth.json").read_text(encoding="utf-8"))["event_multipliers"]
    panel = panel_decompose(frame, schema.DAILY, DecomposeSettings())
    effects = event_effects(panel, frame, by=schema.CHANNEL, events=["singles_day", "prime_day", "boxing_day"])
    day = effects.loc[effects["window"] == "day"].set_index(["event", "group"])
    for channel, multiplier in truth["singles_day"]["day"].items():
        planted = 100 * (multiplier - 1)
        row = day.loc[("singles_day", channel)]
        assert row["uplift_pct"] > 0 and row["uplift_pct"] == pytest.approx(planted, rel=0.2), channel
        assert row["uplift_lo_pct"] < row["uplift_pct"] < row["uplift_hi_pct"] and row["occurrences"] == 3
    for event in ("prime_day", "boxing_day"):  # planted without effect: near zero
        assert day.loc[event, "uplift_pct"].abs().max() < 10
    pre = effects.loc[(effects["event"] == "singles_day") & (effects["window"] == "pre")]
    assert (pre["uplift_pct"] < 0).all()  # shoppers wait for 11.11
    by_category = event_effects(panel, frame, events=["singles_day"])
    assert by_category["group"].nunique() == 6


# --- figures ---------------------------------------------------------------------------------------------------------

def test_figures_have_a_panel_per_component_and_mark_events_and_flags():
    frame, _, _ = _planted_series(1)
    result = decompose(frame, schema.DAILY, DecomposeSettings())
    flags = find_anomalies(result)
    figure = decomposition_figure(result, flags, title="one SKU")
    titles = [a.text for a in figure.layout.annotations]
    assert titles == ["Observed", "Trend", "Weekly seasonality", "Yearly seasonality", "Remainder"]
    assert len(figure.layout.shapes) >= 6  # 11.11 and 618 in three years
    assert {t.name for t in figure.data} >= {"actual", UNEXPLAINED, PROMOTION, EVENT_KIND, "events"}
    assert len(profile_figure(seasonal_profile(result)).data) == 2
    panel = panel_decompose(_panel_frame(n_series=2), schema.DAILY, NO_HOLIDAYS)
    effects = event_effects(panel, by=None)
    assert len(event_effects_figure(effects, "pre").data) == 1
    with pytest.raises(ValueError, match="window must be one of"):
        event_effects_figure(effects, "during")


# --- command line -----------------------------------------------------------------------------------------------------

def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m core")
    add_decompose_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_writes_components_strength_anomalies_and_effects(tmp_path):
    path = tmp_path / "sales.csv"
    generate_series(n_series=3, n_periods=800, seed=2).to_csv(path, index=False)
    out = {name: tmp_path / f"{name}.csv" for name in ("components", "strength", "anomalies", "effects")}
    assert _run_cli(["decompose", str(path), "--out", str(out["components"]), "--strength-out",
                     str(out["strength"]), "--anomalies-out", str(out["anomalies"]), "--effects-out",
                     str(out["effects"]), "--countries", "CN"]) == 0
    components = pd.read_csv(out["components"], encoding="utf-8-sig")
    assert list(components.columns[:8]) == [schema.UNIQUE_ID, schema.DS, OBSERVED, TREND, "seasonal_weekly",
                                            "seasonal_yearly", BASELINE, REMAINDER]
    assert len(components) == 2400 and components[schema.DS].str.match(r"\d{4}-\d\d-\d\d$").all()
    assert len(pd.read_csv(out["strength"], encoding="utf-8-sig")) == 3
    anomalies = pd.read_csv(out["anomalies"], encoding="utf-8-sig")
    assert {"reason", "kind", "anomaly"} <= set(anomalies.columns)
    assert set(pd.read_csv(out["effects"], encoding="utf-8-sig")["group"]) == {"app", "jd", "tmall"}  # by channel


def test_cli_decomposes_weekly_totals_and_rejects_unreadable_data(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    generate_series(n_series=2, n_periods=800, seed=2).to_csv(path, index=False)
    out = tmp_path / "components.csv"
    assert _run_cli(["decompose", str(path), "--freq", "W", "--by", "total", "--no-robust", "--out", str(out)]) == 0
    components = pd.read_csv(out, encoding="utf-8-sig")
    assert set(components[schema.UNIQUE_ID]) == {"Total"} and "seasonal_weekly" not in components.columns
    bad = tmp_path / "bad.csv"
    bad.write_text("colour,size\nred,3\n", encoding="utf-8")
    with pytest.raises(DataError):
        _run_cli(["decompose", str(bad), "--out", str(out)])
    with pytest.raises(SystemExit):
        _run_cli(["decompose", str(path), "--out", str(out), "--countries", "XX"])
    assert "no public holiday calendar for XX" in capsys.readouterr().err


def test_decompose_all_skips_series_too_short_and_says_so():
    frame = _panel_frame(n_series=2, n_periods=60)
    frame = frame.loc[~((frame["sku"] == "SKU-001") & (frame[schema.DS] > "2024-01-05"))]
    components, _, skipped = decompose_all(frame, schema.DAILY, NO_HOLIDAYS)
    assert set(components[schema.UNIQUE_ID]) == {"SKU-000 | app"}
    assert skipped == ["SKU-001 | tmall: SKU-001 | tmall has 5 observed periods; a decomposition needs at least 8."]
