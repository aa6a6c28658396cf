"""Promotions: what each promotion added, what it took from the days after and from sibling SKUs, the averages by
category, channel and discount, a placebo check, and a promotion-cleaned history for forecasting."""

from __future__ import annotations

import streamlit as st

from core import schema
from core.causal import (EPISODE_ID, PromotionAnalysis, PromotionSettings, analyse_promotions, effect_path,
                         promotion_cleaned)
from core.data.validate import to_export_frame
from core.datasets import PROMOTION_CLEANED_SUFFIX, save_promotion_cleaned
from core.plots_promotions import effect_figure, placebo_figure, summary_figure
from core.promotions_text import (METHOD, episode_label, episode_sentence, episode_view, filter_episodes,
                                  headline, periods_text, placebo_sentence, summary_view)
from pages._common import (as_markdown, current_or_stop, display_frame, download_button, ensure_navigation,
                           explained_errors, load_frame, workspace)

ensure_navigation()

PERCENT = st.column_config.NumberColumn(format="%+.0f%%")
UNITS = st.column_config.NumberColumn(format="%.1f")
SHARE = st.column_config.NumberColumn(format="percent")
COLUMNS = {"start": st.column_config.DateColumn(format="YYYY-MM-DD"),
           "end": st.column_config.DateColumn(format="YYYY-MM-DD"), "depth": SHARE, "pull_forward_share": SHARE,
           "cannibalised_share": SHARE, "significant_share": SHARE}
COLUMNS |= {c: PERCENT for c in ("uplift_pct", "uplift_lo", "uplift_hi", "raw_uplift_pct", "raw_uplift_lo",
                                 "raw_uplift_hi")}
COLUMNS |= {f"{effect}_{end}": UNITS for effect in ("incremental", "after_effect", "sibling_effect",
                                                    "net_incremental") for end in ("units", "lo", "hi")}
DEFAULTS = PromotionSettings()


@st.cache_data(show_spinner=False, max_entries=4)
def analysis_of(root: str, dataset_id: str, created_at: str, freq: str,
                settings: PromotionSettings) -> PromotionAnalysis:
    """The promotion analysis of a stored dataset, behind a progress bar (about 20 s on the demo shop)."""
    bar, drawn = st.progress(0.0, text="Measuring promotion effects…"), [0.0]

    def report(fraction: float, message: str) -> None:
        if fraction - drawn[0] >= 0.02:  # every update is replayed on each cache hit: draw about 50
            drawn[0] = fraction
            bar.progress(min(fraction, 1.0), text=message)

    try:
        return analyse_promotions(load_frame(root, dataset_id, created_at), freq, settings, progress=report)
    finally:
        bar.empty()


def choices(frame, column: str) -> list[str]:
    return sorted(frame[column].dropna().astype(str).unique()) if column in frame.columns else []


st.title("Promotions")
info = current_or_stop("measure what its promotions added")

with st.expander("How the numbers are computed"):
    st.markdown(METHOD)
with st.expander("Settings"):
    left, middle, right = st.columns(3)
    after = left.number_input(f"Periods after each promotion ({schema.FREQ_NAMES.get(info.freq, info.freq)})", 0,
                              28, DEFAULTS.post_for(info.freq), key=f"promo_after_{info.freq}",
                              help="Measured for a pull-forward dip and left out of the baseline")
    level = middle.select_slider("Intervals", [0.8, 0.9, 0.95], value=DEFAULTS.level, key="promo_level",
                                 format_func=lambda v: f"{v:.0%}")
    controls = right.toggle("Other channels as controls", value=DEFAULTS.controls, key="promo_controls",
                            help="The same category's sales on other channels or locations share demand shocks "
                                 "the calendar does not know about")
settings = PromotionSettings(post_periods=int(after), level=level, controls=controls)
if "promo_toast" in st.session_state:
    st.toast(st.session_state.pop("promo_toast"))

with explained_errors():
    root = str(workspace().root)
    analysis = analysis_of(root, info.id, info.created_at, info.freq, settings)
    for caveat in analysis.caveats:
        st.warning(caveat)
    numbers, interval = headline(analysis), f"{level:.0%} interval"
    cells = st.columns(4)
    cells[0].metric("Promotion episodes", numbers["episodes"],
                    help=f"{numbers['significant']} of them with an interval that excludes zero")
    cells[1].metric("Average uplift", numbers["uplift"], help=f"{interval} {numbers['uplift_interval']}")
    cells[2].metric("Net incremental units", numbers["net"],
                    help=f"{numbers['incremental']} units during the promotions, less the dip in the days after "
                         "and what sibling SKUs lost")
    cells[3].metric("Placebo false positives", numbers["false_positive"],
                    help=f"Fake promotions found significant ({numbers['raw_false_positive']} without pooling)")
    st.caption(f"Average uplift {numbers['uplift']} ({interval} {numbers['uplift_interval']}) over what would "
               f"have sold without the promotions; {numbers['significant']} of the episodes have an interval that "
               "excludes zero.")

    st.subheader("Episodes")
    episodes = analysis.episodes
    left, middle, right = st.columns([2, 2, 1], vertical_alignment="bottom")
    categories, channels = choices(episodes, schema.CATEGORY), choices(episodes, schema.CHANNEL)
    chosen_categories = left.multiselect("Categories", categories, key="promo_categories", disabled=not categories)
    chosen_channels = middle.multiselect("Channels", channels, key="promo_channels", disabled=not channels)
    significant = right.toggle("Significant only", key="promo_significant")
    shown = episode_view(filter_episodes(episodes, chosen_categories, chosen_channels, significant))
    st.caption(f"{len(shown):,} of {len(episodes):,} episodes, largest net effect first; click a column to sort. "
               f"Uplift is the pooled estimate with its {interval}; the after and sibling effects are units "
               "against their baselines (negative: lost); net adds all three.")
    st.dataframe(display_frame(shown, 5_000), hide_index=True, column_config=COLUMNS, key="promo_episodes")
    if shown.empty:
        st.info("No episode matches these filters.")
    else:
        labels = {row[EPISODE_ID]: episode_label(row) for _, row in shown.iterrows()}
        chosen = st.selectbox("Episode", list(labels), format_func=labels.get, key="promo_episode")
        st.markdown(as_markdown(episode_sentence(analysis, chosen)))
        unit = "units per " + periods_text(1, analysis.freq).split()[1]
        st.plotly_chart(effect_figure(effect_path(analysis, chosen), title=chosen[:80], unit=unit,
                                      freq=analysis.freq), key="promo_effect_chart")

    st.subheader("By category, channel and discount")
    levels = [name for name in ("category", "channel", "location", "depth") if name in set(analysis.summary["level"])]
    if levels:
        by = st.radio("By", levels, horizontal=True, key="promo_summary_by",
                      format_func=lambda name: {"depth": "discount depth"}.get(name, name))
        st.plotly_chart(summary_figure(analysis.summary, by), key="promo_summary_chart")
        st.dataframe(summary_view(analysis.summary, by), hide_index=True, column_config=COLUMNS,
                     key="promo_summary_table")
        st.caption("Pull-forward share: part of the incremental units lost in the periods after; cannibalised "
                   "share: part taken from sibling SKUs. Bars are green where the interval excludes zero.")

    st.subheader("Price elasticity")
    st.dataframe(analysis.elasticity, hide_index=True, key="promo_elasticity",
                 column_config={c: st.column_config.NumberColumn(format="%.2f")
                                for c in analysis.elasticity.columns if "elasticity" in c})
    st.caption("How many percent more units a 1% lower price sells (2: a 10% cut sells about 23% more). "
               "Promotional: from the discount depths in the pooled model. Regular: from permanent price changes "
               "outside promotions, in the baselines; empty where prices never changed. Categories with few "
               "episodes share one estimate.")

    st.subheader("Placebo check")
    st.markdown(placebo_sentence(analysis))
    if len(analysis.placebo):
        st.plotly_chart(placebo_figure(analysis.placebo, analysis.episodes), key="promo_placebo_chart")

    st.subheader("Downloads")
    cells = st.columns(3)
    for cell, (what, table) in zip(cells, (("episodes", analysis.episodes), ("summary", analysis.summary),
                                           ("placebo", analysis.placebo))):
        with cell:
            download_button(f"Download the {what} (CSV)", table, f"{info.name}-promotion-{what}.csv"[:120],
                            key=f"promo_download_{what}")

    st.subheader("Use the effects in forecasting")
    name = f"{info.name}{PROMOTION_CLEANED_SUFFIX}"
    st.markdown(f"The promotion-cleaned history replaces sales on promotion days, the days after them and sibling "
                "SKUs' promotion days by the estimated baseline (stock-out days keep their sales), sets promo to 0 "
                "and the price back to the regular one: forecast it to see demand without promotions. Saving it as "
                f"**{as_markdown(name)}** replaces an older copy; the current dataset stays {as_markdown(info.name)}.")
    left, right = st.columns(2)
    if left.button("Save the promotion-cleaned history as a dataset", key="promo_save_cleaned", type="primary"):
        saved = save_promotion_cleaned(workspace(), info, analysis)
        st.session_state["promo_toast"] = (f"Saved '{saved.name}' ({saved.n_rows:,} rows): choose it in the "
                                           "sidebar to forecast on it.")
        st.rerun()  # the sidebar lists the new dataset
    with right:
        download_button("Download the promotion-cleaned history (CSV)",
                        lambda: to_export_frame(promotion_cleaned(load_frame(root, info.id, info.created_at),
                                                                  analysis)),
                        f"{info.name}-promotion-cleaned.csv"[:120], key="promo_download_cleaned",
                        rows=len(analysis.baseline))
