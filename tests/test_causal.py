"""Causal promotion effects: planted uplifts, dips and cannibalisation are recovered; no effect means none found."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.causal import (
    AFTER,
    PROMOTION,
    PromotionError,
    PromotionSettings,
    analyse_promotions,
    censored_mean,
    effect_path,
    find_episodes,
    promotion_cleaned,
    public_model,
)


def planted_panel(uplift: float = 1.5, dip_share: float = 0.0, sibling_share: float = 0.0, days: int = 600,
                  n_sku: int = 4, channels: tuple[str, ...] = ("app", "jd"), seed: int = 0, level: float = 20.0,
                  stockouts: bool = False, promoted_skus: int | None = None, elasticity: float | None = None,
                  depths: tuple[float, ...] = (0.2,)) -> pd.DataFrame:
    """A clean long frame with 5-day promotions (depth 20 %, or drawn from ``depths``) multiplying demand by
    ``uplift`` (or by ``(1 - depth) ** -elasticity``).

    The 7 days after each promotion lose ``dip_share`` of their demand; the other SKUs of the category on the same
    channel lose ``sibling_share`` during it. Promotions within a channel never overlap. Demand is negative
    binomial (size 5) around a weekday pattern and a mild trend."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    weekday = np.array([0.9, 0.95, 1.0, 1.0, 1.05, 1.1, 1.0])[dates.day_of_week]
    trend = np.exp(0.1 * np.arange(days) / 365)
    frames = []
    promoted_skus = n_sku if promoted_skus is None else promoted_skus
    for channel in channels:
        base = {sku: level * rng.uniform(0.6, 1.4) * weekday * trend for sku in range(n_sku)}
        multiplier = {sku: np.ones(days) for sku in range(n_sku)}
        depth = {sku: np.zeros(days) for sku in range(n_sku)}
        day = int(rng.integers(40, 60))
        while day + 5 + 7 < days:
            sku = int(rng.integers(0, promoted_skus))
            window = slice(day, day + 5)
            discount = float(rng.choice(depths))
            multiplier[sku][window] *= uplift if elasticity is None else (1 - discount) ** -elasticity
            multiplier[sku][day + 5: day + 12] *= 1 - dip_share
            depth[sku][window] = discount
            for other in range(n_sku):
                if other != sku:
                    multiplier[other][window] *= 1 - sibling_share
            day += 5 + 7 + int(rng.integers(8, 25))
        for sku in range(n_sku):
            mean = base[sku] * multiplier[sku]
            demand = rng.negative_binomial(5, 5 / (5 + mean)).astype(float)
            stockout = np.zeros(days, dtype=np.int8)
            if stockouts:
                out = rng.random(days) < 0.03
                demand_cut = np.where(out, np.floor(demand * rng.uniform(0.2, 0.8, days)), demand)
                stockout = out.astype(np.int8)
                demand = demand_cut
            frames.append(pd.DataFrame({
                schema.UNIQUE_ID: f"SKU-{sku} | {channel}", schema.DS: dates, schema.Y: demand,
                schema.SKU: f"SKU-{sku}", schema.CHANNEL: channel, schema.CATEGORY: "snacks",
                schema.PRICE: np.round(10 * (1 - depth[sku]), 2), schema.PROMO: depth[sku], schema.STOCKOUT: stockout,
            }))
    return pd.concat(frames, ignore_index=True)


def overall(analysis) -> pd.Series:
    return analysis.summary.loc[analysis.summary["level"] == "all"].iloc[0]


@pytest.fixture(scope="module")
def fifty_percent():
    return analyse_promotions(planted_panel(uplift=1.5, dip_share=0.3, sibling_share=0.2, seed=1))


def test_episodes_are_runs_of_promotion_days_with_their_depth():
    frame = planted_panel(days=200)
    episodes = find_episodes(frame)
    assert len(episodes) > 0
    assert (episodes["periods"] == 5).all()
    assert np.allclose(episodes["depth"], 0.2)
    assert (episodes["end"] - episodes["start"] == pd.Timedelta(days=4)).all()
    assert episodes["episode_id"].is_unique
    assert {"sku", "channel", "category"} <= set(episodes.columns)


def test_without_a_promo_column_price_cuts_mark_the_episodes():
    frame = planted_panel(days=200).drop(columns=[schema.PROMO])
    from_price = find_episodes(frame)
    from_promo = find_episodes(planted_panel(days=200))
    assert len(from_price) == len(from_promo)
    assert np.allclose(from_price["depth"], 0.2, atol=1e-6)


def test_no_promotions_is_a_clear_error():
    frame = planted_panel(days=120).drop(columns=[schema.PROMO, schema.PRICE])
    with pytest.raises(PromotionError, match="map a 'promo' column"):
        analyse_promotions(frame)
    frame = planted_panel(days=120)
    frame[schema.PROMO] = 0.0
    frame[schema.PRICE] = 10.0
    with pytest.raises(PromotionError, match="No promotion episodes"):
        analyse_promotions(frame)


def test_zero_planted_uplift_gives_intervals_that_cover_zero():
    analysis = analyse_promotions(planted_panel(uplift=1.0, seed=2))
    row = overall(analysis)
    assert row["uplift_lo"] <= 0 <= row["uplift_hi"]
    assert abs(row["uplift_pct"]) < 8
    episodes = analysis.episodes
    covered = (episodes["uplift_lo"] <= 0) & (episodes["uplift_hi"] >= 0)
    assert covered.mean() >= 0.9
    assert episodes["significant"].mean() <= 0.1


def test_planted_fifty_percent_uplift_is_recovered(fifty_percent):
    row = overall(fifty_percent)
    assert 40 <= row["uplift_pct"] <= 60
    assert row["uplift_lo"] <= 50 <= row["uplift_hi"]
    episodes = fifty_percent.episodes
    assert episodes["uplift_pct"].median() == pytest.approx(50, abs=10)
    covered = (episodes["uplift_lo"] <= 50) & (episodes["uplift_hi"] >= 50)
    assert covered.mean() >= 0.85
    # incremental units are the baseline times the uplift
    expected = episodes["baseline_units"] * episodes["uplift_pct"] / 100
    assert np.allclose(episodes["incremental_units"], expected)


def test_pull_forward_and_cannibalisation_are_found_with_their_sign(fifty_percent):
    row = overall(fifty_percent)
    assert row["after_effect_hi"] < 0  # the 7 days after lost demand
    assert row["sibling_effect_hi"] < 0  # the siblings lost demand
    # planted: 7 days x 30 % of demand lost after 5 days x 50 % gained, a share of 2.1 / 2.5
    assert row["pull_forward_share"] == pytest.approx(0.84, abs=0.25)
    episodes = fifty_percent.episodes
    assert (episodes["siblings"] == 3).all()
    net = episodes["incremental_units"] + episodes["after_effect_units"] + episodes["sibling_effect_units"]
    assert np.allclose(episodes["net_incremental_units"], net)


def test_no_dip_and_no_cannibalisation_when_none_is_planted():
    analysis = analyse_promotions(planted_panel(uplift=1.5, seed=3))
    row = overall(analysis)
    assert row["after_effect_lo"] <= 0 <= row["after_effect_hi"]
    assert row["sibling_effect_lo"] <= 0 <= row["sibling_effect_hi"]


def test_placebo_episodes_on_a_series_without_promotions_find_nothing():
    frame = planted_panel(uplift=1.5, seed=4, n_sku=3, promoted_skus=2)  # SKU-2 is never on promotion
    analysis = analyse_promotions(frame, settings=PromotionSettings(placebo_per_series=8, seed=1))
    placebo = analysis.placebo
    quiet = placebo.loc[placebo[schema.UNIQUE_ID].str.startswith("SKU-2")]
    assert len(quiet) >= 8
    assert abs(quiet["raw_uplift_pct"].mean()) < 15
    assert analysis.placebo_rates["raw_false_positive_rate"] <= 0.15
    assert abs(analysis.placebo_rates["mean_uplift_pct"]) < 15
    # placebo stretches never touch a real promotion or the days after one
    for _, fake in placebo.iterrows():
        days = analysis.baseline.loc[(analysis.baseline[schema.UNIQUE_ID] == fake[schema.UNIQUE_ID])
                                     & analysis.baseline[schema.DS].between(fake["start"], fake["end"])]
        assert (days["phase"] == "").all()


def test_stockout_days_are_left_out_and_the_uplift_still_recovered():
    analysis = analyse_promotions(planted_panel(uplift=1.5, seed=5, stockouts=True))
    row = overall(analysis)
    assert row["uplift_lo"] <= 50 <= row["uplift_hi"]
    assert any("ran out of stock" in note for note in analysis.caveats)


def test_effect_path_is_causal_impact_shaped(fifty_percent):
    episode = fifty_percent.episodes.iloc[3]
    path = effect_path(fifty_percent, episode["episode_id"])
    assert {"actual", "counterfactual", "counterfactual_lo", "counterfactual_hi", "pointwise", "cumulative",
            "cumulative_lo", "cumulative_hi", "phase"} <= set(path.columns)
    assert (path.loc[path["phase"] == PROMOTION, "ds"].agg(["min", "max"]).tolist()
            == [episode["start"], episode["end"]])
    assert (path["phase"] == AFTER).sum() == 7
    assert path.loc[path["ds"] < episode["start"], "cumulative"].isna().all()
    inside = path.loc[path["ds"] >= episode["start"]]
    assert np.allclose(inside["cumulative"], (inside["actual"] - inside["counterfactual"]).cumsum())
    assert (path["counterfactual_lo"] <= path["counterfactual"]).all()
    with pytest.raises(PromotionError, match="No promotion episode"):
        effect_path(fifty_percent, "nope")


def test_promotion_cleaned_history_replaces_only_promotion_effects(fifty_percent):
    frame = planted_panel(uplift=1.5, dip_share=0.3, sibling_share=0.2, seed=1)
    cleaned = promotion_cleaned(frame, fifty_percent)
    original = frame.sort_values([schema.UNIQUE_ID, schema.DS], ignore_index=True)
    touched = (fifty_percent.baseline["phase"] != "").to_numpy()
    assert np.array_equal(cleaned[schema.Y].to_numpy()[~touched], original[schema.Y].to_numpy()[~touched])
    promo_days = (fifty_percent.baseline["phase"] == PROMOTION).to_numpy()
    assert cleaned[schema.Y].to_numpy()[promo_days].sum() < 0.8 * original[schema.Y].to_numpy()[promo_days].sum()
    assert (cleaned[schema.PROMO] == 0).all()
    with pytest.raises(PromotionError, match="other data"):
        promotion_cleaned(frame.iloc[:100], fifty_percent)


def test_summaries_elasticity_and_model_are_reported(fifty_percent):
    levels = set(fifty_percent.summary["level"])
    assert {"all", "category", "channel", "depth"} <= levels
    model = public_model(fifty_percent.model)
    assert not any(key.startswith("_") for key in model)
    assert model["clusters"] == 8 and model["episodes"] == len(fifty_percent.episodes)
    # one depth only: no promotional elasticity can be told from the data, and it is not invented
    assert fifty_percent.elasticity["promo_elasticity"].isna().all()


def test_promotional_price_elasticity_is_recovered_from_varied_depths():
    frame = planted_panel(elasticity=2.0, depths=(0.1, 0.2, 0.3), seed=6, days=700)
    analysis = analyse_promotions(frame)
    row = analysis.elasticity.iloc[0]
    assert row["promo_elasticity_lo"] <= 2.0 <= row["promo_elasticity_hi"]
    assert row["promo_elasticity"] == pytest.approx(2.0, abs=0.6)
    depth_rows = analysis.summary.loc[analysis.summary["level"] == "depth"].set_index("group")
    assert list(depth_rows.index) == ["10%", "20%", "30%"]
    assert depth_rows["uplift_pct"].is_monotonic_increasing


def test_thin_data_caveats():
    frame = planted_panel(uplift=1.5, seed=7, days=150, channels=("app",), n_sku=1)
    frame = frame.drop(columns=[schema.CATEGORY])
    analysis = analyse_promotions(frame, settings=PromotionSettings(placebo_per_series=1))
    notes = " ".join(analysis.caveats)
    assert "Only" in notes and "episode" in notes
    assert "controls" in notes
    assert "cannibalisation is not measured" in notes
    assert analysis.episodes["sibling_effect_units"].isna().all()


def test_censored_mean_is_the_expected_demand_given_at_least_the_sales():
    from scipy.stats import nbinom

    mu, alpha = 6.0, 0.4
    size = 1 / alpha
    k = np.arange(0, 400)
    pmf = nbinom.pmf(k, size, size / (size + mu))
    for sold in (0, 3, 6, 15):
        brute = (k[k >= sold] * pmf[k >= sold]).sum() / pmf[k >= sold].sum()
        assert censored_mean(np.array([sold]), np.array([mu]), alpha)[0] == pytest.approx(brute, rel=1e-6)
    assert censored_mean(np.array([0.0]), np.array([4.0]), 0.0)[0] == pytest.approx(4.0)


def test_the_analysis_is_deterministic():
    frame = planted_panel(uplift=1.3, seed=8, days=300)
    first, second = analyse_promotions(frame), analyse_promotions(frame.sample(frac=1, random_state=0))
    pd.testing.assert_frame_equal(first.episodes, second.episodes)
    pd.testing.assert_frame_equal(first.placebo, second.placebo)


def test_weekly_data_are_analysed():
    frame = planted_panel(uplift=1.5, seed=9, days=1100)
    weekly = (frame.assign(**{schema.DS: frame[schema.DS].dt.to_period("W").dt.start_time})
              .groupby([schema.UNIQUE_ID, schema.DS, schema.SKU, schema.CHANNEL, schema.CATEGORY], as_index=False)
              .agg(**{schema.Y: (schema.Y, "sum"), schema.PROMO: (schema.PROMO, "max")}))
    analysis = analyse_promotions(weekly, schema.WEEKLY)
    assert len(analysis.episodes) > 10
    assert overall(analysis)["uplift_pct"] > 0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="level"):
        PromotionSettings(level=1.5)
    with pytest.raises(ValueError, match="post_periods"):
        PromotionSettings(post_periods=-1)


def test_price_cut_promotions_are_named_in_the_caveats():
    frame = planted_panel(days=300, seed=10)
    frame[schema.PROMO] = 0.0
    analysis = analyse_promotions(frame)
    assert analysis.caveats[0].startswith("Promotions were found from price cuts")
    assert analysis.model["promotions_from"] == "price cuts"
    assert np.allclose(analysis.episodes["depth"], 0.2, atol=1e-6)


def test_promotion_cleaned_history_carries_the_regular_price(fifty_percent):
    frame = planted_panel(uplift=1.5, dip_share=0.3, sibling_share=0.2, seed=1)
    cleaned = promotion_cleaned(frame, fifty_percent)
    assert (cleaned[schema.PRICE] == 10.0).all()


def test_other_interventions_and_covariates_join_the_baseline():
    frame = planted_panel(uplift=1.5, seed=11, days=400)
    # another intervention (tripled sales on the 15th, never during a promotion) the baseline must not learn from
    campaign = (frame[schema.DS].dt.day == 15) & (frame[schema.PROMO] == 0)
    frame["campaign"] = campaign.astype(float)
    frame.loc[campaign, schema.Y] *= 3
    frame["school_holiday"] = (frame[schema.DS].dt.month == 8).astype(float)
    aware = analyse_promotions(frame, settings=PromotionSettings(exclude=("campaign",), post_periods=0,
                                                                 covariates=("school_holiday",)))
    in_fit = aware.baseline["in_fit"].to_numpy()
    assert not in_fit[frame.sort_values([schema.UNIQUE_ID, schema.DS])["campaign"].to_numpy() > 0].any()
    assert overall(aware)["uplift_lo"] <= 50 <= overall(aware)["uplift_hi"]
    with pytest.raises(PromotionError, match="not in the data"):
        analyse_promotions(frame, settings=PromotionSettings(covariates=("nope",)))


def test_a_series_shorter_than_the_after_window_is_skipped_with_a_caveat():
    frame = planted_panel(uplift=1.5, seed=12, days=300)
    tiny = frame.loc[frame[schema.UNIQUE_ID] == frame[schema.UNIQUE_ID].iloc[0]].tail(4)
    tiny = tiny.assign(**{schema.UNIQUE_ID: "ZZ-new | app", schema.SKU: "ZZ-new", "campaign": 1.0})
    frame = pd.concat([frame.assign(campaign=0.0), tiny], ignore_index=True)  # sorts last: its rows end the frame
    analysis = analyse_promotions(frame, settings=PromotionSettings(exclude=("campaign",)))
    assert any("ZZ-new | app" in note for note in analysis.caveats)
    # the campaign marks only the new series' own rows, never the end of the series before it
    before = analysis.baseline.loc[analysis.baseline[schema.UNIQUE_ID] != "ZZ-new | app"]
    assert before["in_fit"].tail(3).any()
