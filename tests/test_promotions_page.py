"""The Promotions page (AppTest) on a small synthetic shop with promotions, and what it builds on: the plain-words
text, the figures and saving a promotion-cleaned copy of a dataset."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import import_frame, open_page
from core import schema
from core.causal import AFTER, PROMOTION, PromotionError, analyse_promotions, effect_path
from core.data.synthetic import generate_series
from core.data.validate import load_sales
from core.datasets import PROMOTION_CLEANED_SUFFIX, save_promotion_cleaned
from core.plots_promotions import effect_figure, placebo_figure, summary_figure
from core.promotions_text import (episode_sentence, episode_view, filter_episodes, placebo_sentence,
                                  units_text)
from core.store import CURRENT_DATASET_KEY, Workspace
from pages._common import as_markdown

TIMEOUT = 120
#: st.dataframe elements in page order (AppTest does not look dataframes up by key)
EPISODES, SUMMARY, ELASTICITY = 0, 1, 2


def _small_shop(promotions: bool = True) -> pd.DataFrame:
    """Eight daily series of 500 days, four per category (enough for a pooled estimate of each); SKUs 0, 3 and 6
    (drinks on the app), 4 and 7, and 2 and 5 share a category and a channel, so their promotions have siblings."""
    frame = generate_series(n_series=8, n_periods=500, seed=7)
    categories = ("drinks", "drinks", "snacks", "drinks", "snacks", "snacks", "drinks", "snacks")
    frame["category"] = frame["sku"].map(lambda sku: categories[int(sku[-3:])])
    return frame if promotions else frame.drop(columns=["promo", "price"])


def _promotions_page() -> AppTest:
    return open_page("pages/promotions.py", TIMEOUT)



@pytest.fixture(scope="module")
def analysis():
    """The small shop's promotion analysis (about 2 s)."""
    result = load_sales(_small_shop().to_csv(index=False).encode(), filename="small.csv")
    return analyse_promotions(result.frame, result.report.freq)


# --- the page ----------------------------------------------------------------------------------------------------

def test_without_a_dataset_the_page_points_to_the_data_page():
    at = _promotions_page()
    assert not at.exception
    assert at.title[0].value == "Promotions"
    assert any("No dataset yet" in i.value and "measure what its promotions added" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_the_page_shows_headline_episodes_effect_chart_summaries_and_placebo(on_small):
    at = _promotions_page()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Promotion episodes"] == f"{len(at.dataframe[EPISODES].value):,}"
    assert metrics["Average uplift"].startswith("+") and metrics["Placebo false positives"].endswith("%")
    episodes = at.dataframe[EPISODES].value
    assert {"episode_id", "start", "end", "uplift_pct", "uplift_lo", "uplift_hi", "incremental_units",
            "net_incremental_units", "significant"} <= set(episodes.columns)
    assert episodes["net_incremental_units"].is_monotonic_decreasing
    assert (episodes["uplift_lo"] <= episodes["uplift_pct"]).all()
    picked = at.selectbox(key="promo_episode").value
    assert picked == episodes["episode_id"].iloc[0]
    assert any(m.value.startswith(f"Promotion {as_markdown(picked)} (") and "units" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 3  # the episode's effect, the summary, the placebo histogram
    effect = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {"actual", "without the promotion", "cumulative effect"} <= {t.get("name") for t in effect["data"]}
    assert at.radio(key="promo_summary_by").options == ["category", "channel", "discount depth"]
    assert set(at.dataframe[SUMMARY].value["group"]) == {"drinks", "snacks"}
    assert set(at.dataframe[ELASTICITY].value["category"]) == {"drinks", "snacks"}
    assert any("fake promotions were placed" in m.value for m in at.markdown)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download the episodes (CSV)", "Download the summary (CSV)", "Download the placebo (CSV)",
                      "Download the promotion-cleaned history (CSV)"]


def test_filters_the_picker_and_the_summary_level(on_small):
    at = _promotions_page()
    at.multiselect(key="promo_categories").set_value(["snacks"]).run()
    at.toggle(key="promo_significant").set_value(True).run()
    assert not at.exception and not at.error
    episodes = at.dataframe[EPISODES].value
    assert len(episodes) and (episodes["category"] == "snacks").all() and episodes["significant"].all()
    last = episodes["episode_id"].iloc[-1]
    at.selectbox(key="promo_episode").set_value(last).run()
    assert any(m.value.startswith(f"Promotion {as_markdown(last)} (") for m in at.markdown)
    at.radio(key="promo_summary_by").set_value("depth").run()
    assert list(at.dataframe[SUMMARY].value["group"])[:1] == ["10%"]
    at.multiselect(key="promo_channels").set_value(["app"]).run()
    assert (at.dataframe[EPISODES].value["channel"] == "app").all()
    at.multiselect(key="promo_categories").set_value([]).run()
    at.multiselect(key="promo_channels").set_value([]).run()
    at.toggle(key="promo_significant").set_value(False).run()
    assert not at.exception and len(at.dataframe[EPISODES].value) > len(episodes)


def test_a_dataset_without_promotions_is_explained(workspace_home):
    import_frame(workspace_home, _small_shop(promotions=False), name="no promotions")
    at = _promotions_page()
    assert not at.exception
    assert any("No promotions to analyse: map a 'promo' column" in e.value for e in at.error)
    assert not at.get("plotly_chart")


def test_the_save_button_stores_the_promotion_cleaned_history_once(workspace_home):
    original = import_frame(workspace_home, _small_shop())
    at = _promotions_page()
    for _ in range(2):  # a second save replaces the first copy
        at.button(key="promo_save_cleaned").click().run()
        assert not at.exception and not at.error
    assert any("Saved 'small shop (promotion-cleaned)'" in t.value for t in at.toast)
    workspace = Workspace(workspace_home)
    names = [d.name for d in workspace.list_datasets()]
    assert sorted(names) == ["small shop", "small shop (promotion-cleaned)"]
    assert workspace.get_setting(CURRENT_DATASET_KEY) == original.id  # the planner stays on the original
    assert "small shop (promotion-cleaned) (8 series)" in at.selectbox(key="sidebar_dataset").format_func(
        workspace.find_by_name("small shop (promotion-cleaned)").id)
    cleaned = workspace.load_frame(workspace.find_by_name("small shop (promotion-cleaned)").id)
    assert (cleaned[schema.PROMO] == 0).all() and len(cleaned) == original.n_rows


# --- saving a promotion-cleaned copy -----------------------------------------------------------------------------

def test_save_promotion_cleaned_keeps_the_report_mapping_and_issues_and_replaces_an_older_copy(workspace_home):
    workspace = Workspace(workspace_home)
    info = import_frame(workspace_home, _small_shop())
    analysis = analyse_promotions(workspace.load_frame(info.id), info.freq)
    first = save_promotion_cleaned(workspace, info, analysis)
    assert first.name == "small shop" + PROMOTION_CLEANED_SUFFIX
    assert (first.freq, first.n_rows, first.n_series, first.start, first.end) == (
        info.freq, info.n_rows, info.n_series, info.start, info.end)
    assert first.mapping == info.mapping and first.outcome == info.outcome
    assert workspace.load_report(first.id) == workspace.load_report(info.id)
    pd.testing.assert_frame_equal(workspace.load_issues(first.id), workspace.load_issues(info.id))

    before, after = workspace.load_frame(info.id), workspace.load_frame(first.id)
    on_promotion = (analysis.baseline["phase"] == PROMOTION).to_numpy() & ~analysis.baseline["stockout"].to_numpy()
    assert (after[schema.PROMO] == 0).all() and (before[schema.PROMO] > 0).any()
    assert after[schema.Y].to_numpy()[on_promotion].sum() < before[schema.Y].to_numpy()[on_promotion].sum()
    untouched = (analysis.baseline["phase"] == "").to_numpy()
    np.testing.assert_array_equal(after[schema.Y].to_numpy()[untouched], before[schema.Y].to_numpy()[untouched])

    workspace.set_setting(CURRENT_DATASET_KEY, first.id)
    second = save_promotion_cleaned(workspace, info, analysis)
    assert [d.id for d in workspace.list_datasets() if d.name == first.name] == [second.id]
    assert workspace.get_setting(CURRENT_DATASET_KEY) == second.id  # the older copy was current: the new one is


def test_save_promotion_cleaned_refuses_an_analysis_of_other_data(workspace_home, analysis):
    workspace = Workspace(workspace_home)
    other = import_frame(workspace_home, generate_series(n_series=2, n_periods=200, seed=1), name="other")
    with pytest.raises(PromotionError, match="made on other data"):
        save_promotion_cleaned(workspace, other, analysis)
    assert [d.name for d in workspace.list_datasets()] == ["other"]


# --- words and figures -------------------------------------------------------------------------------------------

def test_the_episode_sentence_gives_units_uplift_after_and_sibling_effects(analysis):
    episodes = analysis.episodes
    with_siblings = episodes.loc[episodes["sibling_effect_units"].notna()].iloc[0]
    text = episode_sentence(analysis, with_siblings["episode_id"])
    assert text.startswith(f"Promotion {with_siblings['episode_id']} (")
    assert f"It added an estimated {units_text(with_siblings['incremental_units'])} units" in text
    assert "95% interval" in text and "on its own, without pooling" in text and "The 7 days after " in text
    siblings = f"{with_siblings['siblings']} sibling SKU(s) on the same channel "
    assert siblings + ("lost" if with_siblings["sibling_effect_units"] < 0 else "gained") in text
    assert text.endswith(".") and "Net: " in text
    unclear = episodes.loc[~episodes["significant"]]
    if len(unclear):
        assert "no clear effect" in episode_sentence(analysis, unclear["episode_id"].iloc[0])
    unmeasured = replace(analysis, episodes=episodes.assign(uplift_pct=np.nan, net_incremental_units=np.nan))
    text = episode_sentence(unmeasured, with_siblings["episode_id"])
    assert "its effect cannot be measured" in text and "It added" not in text and "Net:" not in text


def test_filters_views_and_markdown_escaping(analysis):
    episodes = analysis.episodes
    snacks = filter_episodes(episodes, categories=["snacks"], significant_only=True)
    assert len(snacks) and (snacks["category"] == "snacks").all() and snacks["significant"].all()
    assert len(filter_episodes(episodes)) == len(episodes)
    assert filter_episodes(episodes, channels=["app"])["channel"].eq("app").all()
    view = episode_view(episodes)
    assert view.columns[0] == "episode_id" and view["net_incremental_units"].is_monotonic_decreasing
    assert "raw_uplift_pct" not in view.columns
    assert as_markdown("A_1*|x #2") == r"A\_1\*\|x \#2"
    assert "fake promotions were placed" in placebo_sentence(analysis)


def test_the_figures(analysis):
    episode = analysis.episodes.sort_values("periods").iloc[-1]
    path = effect_path(analysis, episode["episode_id"])
    figure = effect_figure(path, title="one episode")
    names = {trace.name for trace in figure.data}
    assert {"actual", "without the promotion", "95% band", "cumulative effect"} <= names
    shaded = [shape for shape in figure.layout.shapes if shape.type == "rect"]
    labels = [shape.label.text for shape in shaded]
    assert "promotion" in labels and "after" in labels
    promotion = shaded[labels.index("promotion")]
    assert pd.Timestamp(promotion.x0) < pd.Timestamp(episode["start"]) <= pd.Timestamp(episode["end"]) < pd.Timestamp(
        promotion.x1)

    depth = summary_figure(analysis.summary, "depth")
    assert depth.data[0].x[0] == "10%"
    numbers = [float(label.rstrip("%")) for label in depth.data[0].x if label != "unknown"]
    assert numbers == sorted(numbers)
    by_category = summary_figure(analysis.summary, "category")
    assert set(by_category.data[0].x) == {"drinks", "snacks"}
    assert len(placebo_figure(analysis.placebo, analysis.episodes).data) == 2
    assert AFTER in set(path["phase"])
