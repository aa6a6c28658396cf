"""Plain words and table views of a :class:`core.causal.PromotionAnalysis`, for the Promotions page and reports."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from core import schema
from core.causal import EPISODE_ID, PromotionAnalysis

#: Episode-table columns a planner reads first (group columns are kept where present).
EPISODE_VIEW = (
    EPISODE_ID, schema.SKU, schema.CHANNEL, schema.LOCATION, schema.CATEGORY, "start", "end", "periods", "depth",
    "uplift_pct", "uplift_lo", "uplift_hi", "incremental_units", "after_effect_units", "sibling_effect_units",
    "net_incremental_units", "stockout_periods", "significant",
)
#: How the numbers are computed, for planners (Markdown).
METHOD = """\
1. **Baseline.** For every series, a regression (negative binomial) is fitted on the days with no promotion, not
   in the days after one, with no promotion on a sibling SKU and no stock-out. It knows the trend, weekday, yearly
   season, the e-commerce events and public holidays, regular price changes, and the same category's sales on
   other channels (controls). It predicts what would have sold on every day: the counterfactual.
2. **Each episode.** Actual units over the counterfactual on the promotion's days gives its own (raw) uplift,
   with an interval from the sales noise and the baseline's own uncertainty.
3. **Pooled and shrunk.** One short promotion is noisy, so all episodes feed one model of uplift by category,
   discount depth and channel (standard errors clustered by series). Each episode's reported uplift combines its
   own ratio with that model's prediction, weighted by how precise each is (empirical Bayes): where episodes
   really differ, each keeps its own estimate.
4. **After and siblings.** The days after a promotion (shoppers who bought ahead) and the same days on other SKUs
   of the category and channel (cannibalisation) are measured the same way against their baselines.
5. **Placebo.** Fake promotions on quiet stretches go through the same steps: how often they look significant is
   the false-positive rate.
"""
_PERIOD_WORDS = {schema.DAILY: ("day", "days"), schema.WEEKLY: ("week", "weeks"), schema.MONTHLY: ("month", "months")}


def periods_text(n: int, freq: str) -> str:
    """``"7 days"``, ``"1 week"``."""
    one, many = _PERIOD_WORDS.get(freq, ("period", "periods"))
    return f"{n} {one if n == 1 else many}"


def after_text(n: int, freq: str) -> str:
    """``"7 days after"``, ``"week after"``."""
    return f"{_PERIOD_WORDS.get(freq, ('period',))[0]} after" if n == 1 else f"{periods_text(n, freq)} after"


def units_text(value: float) -> str:
    """Units to a planner's precision: whole numbers from 10 up (and whole numbers below), else one decimal."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:,.1f}"


def percent_text(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:+.0f}%"


def interval_text(lo: float, hi: float, percent: bool = False) -> str:
    """``"12–22"`` or ``"+51% to +90%"``."""
    if percent:
        return f"{percent_text(lo)} to {percent_text(hi)}"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "–"
    digits = 0 if max(abs(lo), abs(hi)) >= 10 else 1  # both ends to the same precision
    return f"{lo:,.{digits}f} to {hi:,.{digits}f}"


def _dates(start, end) -> str:
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    return f"{start:%d %b %Y}" if start == end else f"{start:%d %b %Y} to {end:%d %b %Y}"


def episode_label(episode: pd.Series) -> str:
    """``"BABY-001 | jd #1 · 14 Mar 2024 to 19 Mar 2024 · 30% off"`` for a picker."""
    parts = [str(episode[EPISODE_ID])[:80], _dates(episode["start"], episode["end"])]
    if pd.notna(episode.get("depth")):
        parts.append(f"{100 * episode['depth']:.0f}% off")
    return " · ".join(parts)


def _lost_or_gained(value: float, lo: float, hi: float, subject: str) -> str:
    """``"the 7 days after lost 9 units (-23 to 6)"``: negative effects as losses."""
    verb = "lost" if value < 0 else "gained"
    sign = -1 if value < 0 else 1
    low, high = sorted((sign * lo, sign * hi))
    return f"{subject} {verb} {units_text(abs(value))} units ({interval_text(low, high)})"


def _uplift_text(episode: pd.Series, level: str) -> str:
    """``. It added an estimated 17 units (12 to 22), +70% (...); on its own ... shows +79% (...).``"""
    text = (f". It added an estimated {units_text(episode['incremental_units'])} units "
            f"({interval_text(episode['incremental_lo'], episode['incremental_hi'])}), "
            f"{percent_text(episode['uplift_pct'])} "
            f"({interval_text(episode['uplift_lo'], episode['uplift_hi'], True)}, {level} interval)")
    if pd.notna(episode["raw_uplift_pct"]):
        text += (f"; on its own, without pooling with similar promotions, it shows "
                 f"{percent_text(episode['raw_uplift_pct'])} "
                 f"({interval_text(episode['raw_uplift_lo'], episode['raw_uplift_hi'], True)})")
    return text + ("." if episode["significant"] else ". The interval includes zero: no clear effect.")


def episode_sentence(analysis: PromotionAnalysis, episode_id: str) -> str:
    """What one promotion did, in one paragraph: its incremental units and uplift with their intervals (and its
    own, unpooled estimate), the dip in the periods after it, what sibling SKUs lost, and the net."""
    episode = analysis.episodes.loc[analysis.episodes[EPISODE_ID] == episode_id].iloc[0]
    text = (f"Promotion {str(episode_id)[:80]} ({_dates(episode['start'], episode['end'])}, "
            f"{periods_text(int(episode['periods']), analysis.freq)}"
            + (f", {100 * episode['depth']:.0f}% off" if pd.notna(episode["depth"]) else "") + ") "
            f"sold {units_text(episode['actual_units'])} units where about {units_text(episode['baseline_units'])} "
            "were expected without it")
    if pd.isna(episode["uplift_pct"]):
        text += (", but its effect cannot be measured: it was out of stock throughout, or its series has too "
                 "little history without promotions.")
    else:
        text += _uplift_text(episode, f"{100 * analysis.settings.level:.0f}%")
    effects = []
    if pd.notna(episode["after_effect_units"]):
        after = after_text(analysis.settings.post_for(analysis.freq), analysis.freq)
        effects.append(_lost_or_gained(episode["after_effect_units"], episode["after_effect_lo"],
                                       episode["after_effect_hi"], f"the {after}"))
    if pd.notna(episode["sibling_effect_units"]):
        effects.append(_lost_or_gained(episode["sibling_effect_units"], episode["sibling_effect_lo"],
                                       episode["sibling_effect_hi"],
                                       f"{int(episode['siblings'])} sibling SKU(s) on the same channel"))
    if effects:
        joined = "; ".join(effects)
        text += f" {joined[0].upper()}{joined[1:]}."
    if pd.notna(episode["net_incremental_units"]):
        text += f" Net: {units_text(episode['net_incremental_units'])} units."
    if episode["stockout_periods"] and pd.notna(episode["uplift_pct"]):
        text += (f" It ran out of stock on {periods_text(int(episode['stockout_periods']), analysis.freq)}: left "
                 "out of the uplift, so the added units describe demand, not sales.")
    return text


def headline(analysis: PromotionAnalysis) -> dict[str, str]:
    """The page's headline numbers as text: ``episodes``, ``significant`` (their share), ``uplift`` with
    ``uplift_interval``, ``net`` and ``incremental`` units, ``false_positive`` and ``raw_false_positive``."""
    overall = analysis.summary.loc[analysis.summary["level"] == "all"].iloc[0]
    rates = analysis.placebo_rates
    rate = rates.get("false_positive_rate", float("nan"))
    raw = rates.get("raw_false_positive_rate", float("nan"))
    return {
        "episodes": f"{len(analysis.episodes):,}",
        "significant": f"{100 * overall['significant_share']:.0f}%",
        "uplift": percent_text(overall["uplift_pct"]),
        "uplift_interval": interval_text(overall["uplift_lo"], overall["uplift_hi"], percent=True),
        "net": units_text(overall["net_incremental_units"]),
        "incremental": units_text(overall["incremental_units"]),
        "false_positive": "–" if not math.isfinite(rate) else f"{100 * rate:.1f}%",
        "raw_false_positive": "–" if not math.isfinite(raw) else f"{100 * raw:.1f}%",
    }


def placebo_sentence(analysis: PromotionAnalysis) -> str:
    """The placebo check in plain words: how often fake promotions came out significant."""
    rates = analysis.placebo_rates
    n = int(rates.get("episodes") or 0)
    if not n:
        return ("No placebo check: the history has no stretch clean enough (no promotion, stock-out or the days "
                "after one) to place fake promotions on.")
    expected = 100 * (1 - analysis.settings.level)
    rate = 100 * rates["false_positive_rate"]
    raw = 100 * rates["raw_false_positive_rate"]
    verdict = ("so a significant promotion here is unlikely to be noise" if rate <= expected * 1.5 else
               "more than expected: treat single significant episodes with care")
    return (f"{n:,} fake promotions were placed on quiet stretches of the history and measured exactly like the "
            f"real ones. {rate:.1f}% of them came out significant (about {expected:.0f}% is expected by chance), "
            f"{verdict}; judged one at a time, without the pooled model, {raw:.1f}% did. Their average estimated "
            f"uplift is {percent_text(rates['mean_uplift_pct'])}.")


def filter_episodes(episodes: pd.DataFrame, categories: Sequence[str] = (), channels: Sequence[str] = (),
                    significant_only: bool = False) -> pd.DataFrame:
    """The episodes of the chosen categories and channels (all when none is chosen), optionally only those whose
    interval excludes zero."""
    keep = pd.Series(True, index=episodes.index)
    for column, chosen in ((schema.CATEGORY, categories), (schema.CHANNEL, channels)):
        if chosen and column in episodes.columns:
            keep &= episodes[column].astype(str).isin(list(chosen))
    if significant_only:
        keep &= episodes["significant"].astype(bool)
    return episodes.loc[keep]


def episode_view(episodes: pd.DataFrame) -> pd.DataFrame:
    """The episode table's planner columns (:data:`EPISODE_VIEW`), largest net effect first."""
    columns = [c for c in EPISODE_VIEW if c in episodes.columns]
    return episodes[columns].sort_values("net_incremental_units", ascending=False, ignore_index=True)


def summary_view(summary: pd.DataFrame, level: str) -> pd.DataFrame:
    """One level of the summary table, its ``level`` column dropped."""
    return summary.loc[summary["level"] == level].drop(columns="level").reset_index(drop=True)
