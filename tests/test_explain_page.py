"""The Explain page (AppTest) on a small synthetic shop, and what it builds on: the figures and the words of
:mod:`core.plots_explain` and :mod:`core.explain_text`."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import open_page, small_shop
from core import schema
from core.data.validate import load_sales
from core.explain import ExplainError, explain_frame, global_importance
from core.explain_text import model_choices, sample_text, series_groups, tolerance_text
from core.plots_explain import (FORECAST_LABEL, START_LABEL, beeswarm_figure, beeswarm_positions,
                                importance_by_figure, importance_figure, waterfall_figure, waterfall_range,
                                waterfall_steps)

TIMEOUT = 180
#: st.plotly_chart elements in page order
IMPORTANCE, BEESWARM, BY_GROUP, WATERFALL = 0, 1, 2, 3



def _explain_page() -> AppTest:
    return open_page("pages/explain.py", TIMEOUT)



@pytest.fixture(scope="module")
def explanation():
    """LightGBM's explanation of the small shop's 28-day forecasts (a few seconds)."""
    result = load_sales(small_shop().to_csv(index=False).encode(), filename="small.csv")
    return explain_frame(result.frame, result.report.freq, "lgbm", 28), result.frame


# --- the page ----------------------------------------------------------------------------------------------------

def test_without_a_dataset_the_page_points_to_the_data_page():
    at = _explain_page()
    assert not at.exception
    assert at.title[0].value == "Explain"
    assert any("No dataset yet" in i.value and "see why each forecast is what it is" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_the_page_explains_lightgbm_overall_by_group_and_one_forecast(on_small):
    at = _explain_page()
    assert not at.exception and not at.error
    assert at.selectbox(key="explain_model").value == "lgbm"
    assert at.selectbox(key="explain_model").options == ["LightGBM", "Transformer"]
    caption = " ".join(c.value for c in at.caption)
    assert "Explained for all 6 series: 168 forecasts." in caption
    assert "Tree SHAP" in caption and "add up to each forecast within" in caption
    charts = at.get("plotly_chart")
    assert len(charts) == 4
    importance = json.loads(charts[IMPORTANCE].proto.spec)["data"][0]
    assert importance["type"] == "bar" and importance["orientation"] == "h" and len(importance["y"]) == 15
    assert json.loads(charts[BEESWARM].proto.spec)["data"][0]["mode"] == "markers"
    assert at.radio(key="explain_by").options == ["category", "channel"]
    assert json.loads(charts[BY_GROUP].proto.spec)["data"][0]["x"] == ["drinks", "snacks"]
    assert set(at.dataframe[0].value["group"]) == {"drinks", "snacks"}

    waterfall = json.loads(charts[WATERFALL].proto.spec)["data"][0]
    assert waterfall["type"] == "waterfall"
    assert waterfall["y"][0] == START_LABEL and waterfall["y"][-1] == FORECAST_LABEL
    first = at.selectbox(key="explain_series").value
    assert at.selectbox(key="explain_series").options[0] == first
    sentences = [m.value for m in at.markdown if m.value.startswith("The model expects ")]
    assert len(sentences) == 1 and "units on " in sentences[0]
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download the contributions (CSV)", "Download the top drivers per SKU (CSV)"]


def test_picking_a_series_a_date_and_a_group_redraws_without_refitting(on_small, monkeypatch):
    at = _explain_page()
    fits = []
    monkeypatch.setattr("core.explain.explain_lgbm", lambda *args: fits.append(args))  # a refit would show here
    last = at.selectbox(key="explain_series").options[-1]
    at.selectbox(key="explain_series").set_value(last).run()
    slider = at.select_slider(key="explain_date")
    at.select_slider(key="explain_date").set_value(slider.options[-1]).run()
    at.radio(key="explain_by").set_value("channel").run()
    assert not at.exception and not at.error and not fits
    title = json.loads(at.get("plotly_chart")[WATERFALL].proto.spec)["layout"]["title"]["text"]
    assert title.startswith(last[:20]) and title.endswith(slider.options[-1])
    assert set(at.dataframe[0].value["group"]) == set(small_shop()["channel"])
    sentence = next(m.value for m in at.markdown if m.value.startswith("The model expects "))
    assert f"on {slider.options[-1]} (starting from " in sentence


def test_a_sample_of_the_series_is_stated(on_small):
    at = _explain_page()
    at.number_input(key="explain_sample").set_value(4)
    at.button(key="explain_run").click().run()
    assert not at.exception and not at.error
    assert any("Explained for 4 of 6 series (a random sample" in c.value for c in at.caption)
    assert len(at.selectbox(key="explain_series").options) == 4


def test_the_transformer_is_explained_too(on_small):
    at = _explain_page()
    at.selectbox(key="explain_model").set_value("tsfm")
    at.number_input(key="explain_sample").set_value(2)
    at.button(key="explain_run").click().run()
    assert not at.exception and not at.error
    caption = " ".join(c.value for c in at.caption)
    assert "Exact Shapley values" in caption and "Explained for 2 of 6 series" in caption
    labels = json.loads(at.get("plotly_chart")[WATERFALL].proto.spec)["data"][0]["y"]
    assert any(label.startswith("sales ") for label in labels)
    assert any(m.value.startswith("The model expects ") for m in at.markdown)


def test_the_active_fine_tuned_version_is_offered(on_small, monkeypatch):
    monkeypatch.setattr("core.registry.ModelRegistry.active",
                        lambda self: SimpleNamespace(model_name="tsfm@spring", id="v1"))
    at = _explain_page()
    assert not at.exception
    assert at.selectbox(key="explain_model").options == ["LightGBM", "Transformer", "Fine-tuned transformer (spring)"]


def test_a_model_that_cannot_be_explained_shows_why(on_small, monkeypatch):
    def refuse(*args, **kwargs):
        raise ExplainError("The transformer cannot explain these forecasts: no checkpoint.")

    monkeypatch.setattr("core.explain_tsfm.explain_tsfm", refuse)
    at = _explain_page()
    at.selectbox(key="explain_model").set_value("tsfm")
    at.number_input(key="explain_sample").set_value(3)  # a cache key of its own
    at.button(key="explain_run").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["The transformer cannot explain these forecasts: no checkpoint."]
    assert not at.get("plotly_chart")


def test_a_missing_explainer_is_a_friendly_message_not_a_traceback(on_small, monkeypatch):
    monkeypatch.setitem(sys.modules, "core.explain_tsfm", None)  # import fails as if the module were absent
    at = _explain_page()
    at.selectbox(key="explain_model").set_value("tsfm")
    at.number_input(key="explain_sample").set_value(5)
    at.button(key="explain_run").click().run()
    assert not at.exception
    assert any("Something went wrong on our side" in e.value for e in at.error)


# --- figures and words -------------------------------------------------------------------------------------------

def test_the_waterfall_runs_from_the_base_value_to_the_prediction(explanation):
    explained, _ = explanation
    row = explained.forecasts.iloc[40]
    steps = waterfall_steps(explained, row[schema.UNIQUE_ID], row[schema.DS], top=5)
    assert list(steps["measure"]) == ["absolute"] + ["relative"] * 6 + ["total"]
    assert steps["label"].iloc[-2].endswith(" other inputs")
    assert steps["value"].iloc[0] == pytest.approx(row["base_value"])
    assert steps["value"].iloc[-1] == pytest.approx(row["prediction"])
    assert steps["value"].iloc[:-1].sum() == pytest.approx(row["prediction"], abs=1e-6)
    sizes = steps["value"].iloc[1:6].abs().to_numpy()
    assert (np.diff(sizes) <= 0).all()
    figure = waterfall_figure(explained, row[schema.UNIQUE_ID], row[schema.DS], top=5)
    assert figure.data[0].type == "waterfall" and len(figure.data[0].y) == 8
    left, right = figure.layout.xaxis.range  # zoomed to the path, which stays inside
    path = np.r_[steps["value"].iloc[0], steps["value"].iloc[:-1].cumsum()]
    assert left <= path.min() and path.max() < right
    with pytest.raises(ExplainError, match="No explained forecast for 'nope'"):
        waterfall_steps(explained, "nope", row[schema.DS])


def test_the_waterfall_zooms_to_its_steps_and_starts_at_zero_when_zero_is_near():
    steps = pd.DataFrame({"value": [100.0, 4.0, -2.0, 102.0], "measure": ["absolute", "relative", "relative", "total"]})
    left, right = waterfall_range(steps)
    assert 90 < left < 100 and 104 < right < 110  # small contributions next to a large forecast stay visible
    near_zero = steps.assign(value=[1.0, 4.0, -2.0, 3.0])
    assert waterfall_range(near_zero)[0] == 0.0


def test_importance_beeswarm_and_group_figures(explanation):
    explained, frame = explanation
    importance = global_importance(explained)
    bars = importance_figure(importance, top=8).data[0]
    assert list(bars.y) == list(importance["feature"].head(8))
    assert list(bars.x) == sorted(bars.x, reverse=True)
    swarm = beeswarm_figure(explained, top=5).data[0]
    assert len(swarm.x) == 5 * len(explained.forecasts)
    assert set(np.round(swarm.y).astype(int)) == {0, 1, 2, 3, 4}
    assert swarm.marker.color.min() == 1 and swarm.marker.color.max() == 28  # periods ahead
    thinned = beeswarm_figure(explained, top=3, max_per_feature=50)
    assert len(thinned.data[0].x) == 150 and "50 random forecasts" in thinned.layout.title.text
    grouped = global_importance(explained, series_groups(frame, schema.CATEGORY))
    heatmap = importance_by_figure(grouped, top=6).data[0]
    assert list(heatmap.x) == ["drinks", "snacks"] and len(heatmap.y) == 6
    assert np.allclose(np.asarray(heatmap.z).max(), grouped["share"].loc[grouped["feature"].isin(heatmap.y)].max())


def test_beeswarm_offsets_spread_crowded_dots_within_their_row():
    x = np.r_[np.zeros(9), np.linspace(1, 10, 5)]
    offsets = beeswarm_positions(x)
    assert np.abs(offsets).max() <= 0.4 and len(set(np.round(offsets[:9], 6))) == 9
    assert np.abs(offsets[9:]).max() < np.abs(offsets[:9]).max()
    assert len(beeswarm_positions(np.array([]))) == 0 and beeswarm_positions(np.ones(3)).shape == (3,)


def test_words(explanation):
    explained, _ = explanation
    assert sample_text(40, 149, 1120) == ("Explained for 40 of 149 series (a random sample, the same on every "
                                          "visit): 1,120 forecasts.")
    assert sample_text(6, 6, 168) == "Explained for all 6 series: 168 forecasts."
    assert tolerance_text(explained).startswith("The starting point plus the contributions add up to each forecast "
                                                "within ")
    assert model_choices() == {"lgbm": "LightGBM", "tsfm": "Transformer"}
    assert model_choices("tsfm@spring")["tsfm@spring"] == "Fine-tuned transformer (spring)"
