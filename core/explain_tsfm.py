"""Why the pretrained transformer forecasts what it does: exact Shapley values over groups of its inputs.

The network (:mod:`core.models.tsfm`) reads a series' recent sales (its context window), the same weeks a year
earlier, the promotions and events in that history, and what is planned for each future period: promotion,
price against the usual price, e-commerce events and public holidays, and for a fine-tuned model some inputs of
its own. Its inputs are cut into at most twelve planner-sized groups (:func:`input_groups`); a group that is
"absent" is replaced by a neutral reference, and every coalition of present groups is run through the network,
so the Shapley values are exact (no sampling, deterministic) and add up to the forecast by construction.

The network is run in its parts (encoder, then heads) so that coalitions that share a context window share its
encoding: within the network's horizon one series needs 16 encoder passes (one per coalition of the four sales
blocks), not 2^G; beyond it the fed-back median differs per coalition and every coalition is encoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from math import factorial

import numpy as np
import pandas as pd

from core import schema
from core.explain import (
    BASE_VALUE,
    CONTRIBUTION,
    FEATURE,
    PREDICTION,
    ExplainError,
    Explanation,
    make_explanation,
    short_series_rows,
    wanted_ids,
)
from core.models.base import future_dates, future_frame
from core.models.tsfm import FUTURE_FEATURES, SeriesGrids, TSFMForecaster, network_inputs

#: blocks of the context window, in periods before the forecast origin (``None``: to the window's start)
SALES_BLOCKS: dict[str, tuple[tuple[int, int | None], ...]] = {
    schema.DAILY: ((1, 7), (8, 28), (29, 90), (91, None)),
    schema.WEEKLY: ((1, 4), (5, 13), (14, 52), (53, None)),
    schema.MONTHLY: ((1, 3), (4, 12), (13, 24), (25, None)),
}
YEAR_AGO_NAME = {schema.DAILY: "same weeks last year", schema.WEEKLY: "same weeks last year",
                 schema.MONTHLY: "same months last year"}
PAST_FLAGS_NAME = "past promotions and events"
PROMO_NAME = "promotion planned"
PRICE_NAME = "price vs usual"
EVENTS_NAME = "e-commerce events"
HOLIDAYS_NAME = "public holidays"
EXTRA_NAME = "other inputs"
OPEN_NAME = "store open"
#: the future inputs that describe the same periods a year earlier, and the one saying whether they are known
_YEAR_VALUES = [FUTURE_FEATURES.index(c) for c in ("year_ago", "year_ago_smooth", "year_ago_level")]
_YEAR_KNOWN = FUTURE_FEATURES.index("year_ago_known")
#: rows (series x coalitions) per pass through the encoder and heads
_ROWS = 4096
_UNIT = {schema.DAILY: "days", schema.WEEKLY: "weeks", schema.MONTHLY: "months"}


@dataclass(frozen=True)
class InputGroup:
    """One group of the network's inputs, with what replaces it when it is absent.

    kind : ``sales`` (a block of the context window, ``ages`` periods before the origin), ``year_ago``,
        ``past_flags``, ``promo``, ``price``, ``events``, ``holidays``, ``extra`` or ``open``.
    """

    name: str
    kind: str
    reference: str
    ages: tuple[int, int] | None = None


def input_groups(model: TSFMForecaster) -> list[InputGroup]:
    """The groups :func:`explain_tsfm` attributes a fitted transformer's forecasts to, in display order.

    Groups the model cannot read are left out: promotion and price when they were not given (or
    ``covariates=False``), events when the calendar is not used, store open without an open/closed column,
    other inputs unless the model was fine-tuned with some. ``store open`` comes last (it acts after the
    network: closed periods are forecast 0).
    """
    model._check_fitted()
    freq = model.panel_.freq
    length = model.network_.config.context_length
    unit = _UNIT[freq]
    groups = []
    for first, last in SALES_BLOCKS[freq]:
        if first > length:
            continue
        last = length if last is None else min(last, length)
        name = f"sales in the last {last} {unit}" if first == 1 else f"sales {first}-{last} {unit} ago"
        groups.append(InputGroup(name, "sales", "the series' average over the context window", (first, last)))
    groups.append(InputGroup(YEAR_AGO_NAME[freq], "year_ago", "a year ago at the series' average (where known)"))
    promo = model.covariates and schema.PROMO in model.inputs_used_
    price = model.covariates and schema.PRICE in model.inputs_used_
    calendar = bool(getattr(model, "calendar_used_", model.covariates and model.calendar))
    if promo or calendar:
        groups.append(InputGroup(PAST_FLAGS_NAME, "past_flags", "no promotions, events or holidays in the history"))
    if promo:
        groups.append(InputGroup(PROMO_NAME, "promo", "no promotion"))
    if price:
        groups.append(InputGroup(PRICE_NAME, "price", "the usual price"))
    if calendar:
        groups.append(InputGroup(EVENTS_NAME, "events", "no event days or event windows"))
        groups.append(InputGroup(HOLIDAYS_NAME, "holidays", "no public holidays"))
    if model.network_.config.extra_features:
        groups.append(InputGroup(EXTRA_NAME, "extra", "0 (where the fine-tuned head starts)"))
    if model.open_columns_:
        groups.append(InputGroup(OPEN_NAME, "open", "open"))
    return groups


def explain_tsfm(model: TSFMForecaster, h: int, X_df: pd.DataFrame | None = None,
                 ids: Sequence[str] | None = None) -> Explanation:
    """Exact Shapley values of a fitted transformer's point forecasts ``model.predict(h, X_df)``, per series
    (``ids``, default all) and date, over groups of the network's inputs (:func:`input_groups`).

    A group that is absent is replaced by its reference:

    * a block of the sales history ("sales in the last 7 days", "sales 8-28 days ago", ...): each observed
      period in it set to the series' average over the whole context window (so removing "last 7 days" asks
      what the forecast would be had last week been an ordinary week); unobserved periods stay as they are;
    * "same weeks last year": last year's values set to that same average (where last year is known);
    * "past promotions and events": no promotion, event or holiday flagged in the history;
    * "promotion planned": no promotion; "price vs usual": the usual price;
    * "e-commerce events" (event days and the windows around them) and "public holidays": none;
    * "other inputs" (a fine-tuned model's own): 0, where its head starts;
    * "store open": open (closed periods are forecast 0 after the network, so this group only acts there).

    ``base_value`` is the forecast with every group absent (a flat history at the series' average, nothing
    planned) and ``base_value + sum(contributions)`` is the forecast with all present. The same post-processing
    as the forecast (the median of the sorted quantiles, times the series' scale, clipped at 0, 0 where closed,
    the median fed back as history beyond the network's horizon; band calibration leaves the median as it is) is
    applied to every coalition, so the sum matches ``predict`` up to the float32 rounding of the network
    (``tolerance`` reports the largest gap; below 1e-6 of the forecast in the tests). Series too short for the
    model get one row, their average (base value 0).
    """
    if not isinstance(model, TSFMForecaster):
        raise ExplainError(f"explain_tsfm explains the transformer ('tsfm' or 'tsfm@VERSION'); got a "
                           f"{type(model).__name__}. Use explain_lgbm for LightGBM.")
    model._check_fitted()
    if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1:
        raise ExplainError(f"The horizon must be a whole number of periods, at least 1; got {h!r}.")
    h = int(h)
    panel = model.panel_
    wanted = wanted_ids(panel.ids, ids)
    forecast = model.predict(h, X_df, quantiles=(0.5,))  # also settles calendar_used_ as the forecast does
    point = forecast[model.name].to_numpy().reshape(panel.n_series, h)
    dates = future_dates(panel.end, h, panel.freq)
    groups = input_groups(model) if model.modelled_.any() else []  # else no network was loaded
    mask = model.modelled_ & np.isin(panel.ids, wanted)
    records, forecasts = [], []
    if mask.any():
        grids, open_future = series_grids(model, h, X_df, mask)
        values = coalition_forecasts(model, grids, open_future, groups, h)
        contributions = shapley_values(values)  # (m, G, h)
        chosen = panel.ids[mask]
        m, n_groups = len(chosen), len(groups)
        records.append(pd.DataFrame({
            schema.UNIQUE_ID: np.repeat(chosen, h * n_groups),
            schema.DS: np.tile(np.repeat(dates.values, n_groups), m),
            FEATURE: np.tile([g.name for g in groups], m * h),
            CONTRIBUTION: contributions.transpose(0, 2, 1).reshape(-1)}))
        forecasts.append(pd.DataFrame({
            schema.UNIQUE_ID: np.repeat(chosen, h), schema.DS: np.tile(dates.values, m),
            BASE_VALUE: values[:, 0].reshape(-1), PREDICTION: point[mask].reshape(-1)}))
    short_series_rows(panel, model.modelled_, model, wanted, dates, records, forecasts)
    method = (f"Exact Shapley values over {len(groups)} groups of the transformer's inputs: all "
              f"{2 ** len(groups):,} coalitions run through the network, an absent group replaced by its "
              f"reference; the base value is the forecast from a flat history at the series' average with "
              f"nothing planned." if mask.any() else
              "None of these series has enough history for the transformer: each forecast is its own average.")
    explanation = make_explanation("tsfm", records, forecasts, method, model)
    if not mask.any():
        return explanation
    notes = explanation.notes
    notes.append("References of absent groups: " + "; ".join(f"{g.name}: {g.reference}" for g in groups) + ".")
    notes.append("The network has no weekday or month input: the weekly pattern and the season come from the "
                 "sales history, so they show up in the sales blocks and last year.")
    if model.covariates and model.calendar and not model.calendar_used_:
        notes.append("The event calendar is not used for this data (it did not forecast the last periods of the "
                     "history better), so e-commerce events and public holidays play no part.")
    if h > model.network_.config.horizon:
        notes.append(f"Beyond the network's {model.network_.config.horizon}-period horizon the forecast feeds its "
                     "own median back as history; later periods' contributions include that route.")
    largest = np.maximum(1.0, np.abs(point[mask])).max()
    notes.append(f"base_value + contributions match the forecast within {explanation.tolerance:.2g} units (largest "
                 f"forecast {largest:,.1f}); the gap is the network's float32 rounding.")
    return explanation


def series_grids(model: TSFMForecaster, h: int, X_df: pd.DataFrame | None, mask: np.ndarray
                 ) -> tuple[SeriesGrids, np.ndarray]:
    """What the network reads about the series in ``mask`` (a subset of ``model.modelled_``) for the forecast
    ``model.predict(h, X_df)`` just made (it settles whether the calendar is read), and ``(n, h)`` open flags."""
    panel = model.panel_
    future = future_frame(panel, h, X_df, model.known_future)
    grids, open_flag = model._grids(mask, future.loc[np.repeat(mask, h)].reset_index(drop=True), h)
    if not model.calendar_used_:
        blank = np.zeros_like(grids.event)
        grids = replace(grids, event=blank, event_window=blank, holiday=blank)
    return grids, open_flag[:, len(panel.dates):]


def coalition_forecasts(model: TSFMForecaster, grids: SeriesGrids, open_future: np.ndarray,
                        groups: Sequence[InputGroup], h: int) -> np.ndarray:
    """``(n, 2^G, h)``: the point forecast of the series in ``grids`` with each coalition of ``groups`` present.

    Coalition ``s`` holds group ``g`` when bit ``g`` of ``s`` is set; ``store open``, when present, must be the
    last group. ``open_future`` is ``(n, h)``, 0 where the shop is closed.
    """
    has_open = bool(groups) and groups[-1].kind == "open"
    if any(g.kind == "open" for g in groups[:-1]):
        raise ValueError("'store open' must be the last group.")
    network_groups = list(groups[:-1]) if has_open else list(groups)
    n = len(grids.sales)
    per_batch = max(1, _ROWS // (1 << len(network_groups)))
    raw = np.concatenate([_network_coalitions(model, _rows(grids, slice(lo, lo + per_batch)), network_groups, h)
                          for lo in range(0, n, per_batch)], axis=0)
    values = np.clip(raw, 0, None)
    if has_open:
        closed = (open_future < 0.5)[:, None, :]
        values = np.concatenate([values, np.where(closed, 0.0, values)], axis=1)
    return values


def _rows(grids: SeriesGrids, rows: slice) -> SeriesGrids:
    return SeriesGrids(grids.freq, grids.sales[rows], grids.observed[rows], grids.promo[rows], grids.price[rows],
                       grids.event[rows], grids.event_window[rows], grids.holiday[rows],
                       None if grids.extra is None else grids.extra[rows])


def _network_coalitions(model: TSFMForecaster, grids: SeriesGrids, groups: list[InputGroup], h: int) -> np.ndarray:
    """``(n, 2^G, h)`` raw medians (before clipping) of every coalition, chunk by chunk as ``_quantile_path``."""
    network = model.network_
    config = network.config
    n, n_hist = len(grids.sales), len(model.panel_.dates)
    coalitions = np.arange(1 << len(groups))
    bit = {g.kind: 0 for g in groups}
    for index, group in enumerate(groups):
        bit[group.kind] = bit[group.kind] | (1 << index)
    sales_groups = [(1 << i, g.ages) for i, g in enumerate(groups) if g.kind == "sales"]
    sales_bits = bit.get("sales", 0)
    flag_bits = sum(bit.get(k, 0) for k in ("past_flags", "promo", "price", "events", "holidays", "extra"))
    median = config.quantiles.index(0.5)
    length = config.context_length
    history_observed = (grids.observed[:, :n_hist] > 0.5) & np.isfinite(grids.sales[:, :n_hist])
    out = np.empty((n, len(coalitions), h))
    level = None
    done = 0
    while done < h:
        step = min(config.horizon, h - done)
        origin = n_hist + done
        # in the first chunk the history is the same for every coalition: inputs differ only by the flags
        input_key = coalitions & flag_bits if done == 0 else coalitions
        keys, input_of = np.unique(input_key, return_inverse=True)
        sales = None
        if done:
            sales = np.repeat(grids.sales, len(coalitions), axis=0)
            sales[:, n_hist:origin] = out[:, :, :done].reshape(-1, done)
        masked = _masked_grids(grids, groups, keys, n_hist, sales, done)
        inputs = network_inputs(masked, np.full(n * len(keys), origin), config)
        reshaped = {k: v.reshape(n, len(keys), *v.shape[1:]) for k, v in inputs.items()}
        scale = reshaped["scale"][:, input_of]  # (n, S)
        if level is None:
            level = reshaped["scale"][:, 0]  # the series' average over the context window, in units

        # context: the sales blocks absent from a coalition read the reference level
        context_key = coalitions & sales_bits if done == 0 else coalitions
        context_keys, first_of_context, context_of = np.unique(context_key, return_index=True, return_inverse=True)
        source = input_of[first_of_context]
        context = reshaped["context"][:, source].copy()  # (n, Kc, C)
        reference = level[:, None] / reshaped["scale"][:, source]  # (n, Kc)
        period = origin - length + np.arange(length)
        age = n_hist - period
        inside = (period >= 0) & (age >= 1)
        observed = np.zeros((n, length), dtype=bool)
        observed[:, inside] = history_observed[:, period[inside]]
        for flag, (first, last) in sales_groups:
            positions = observed & ((age >= first) & (age <= last))[None, :]  # (n, C)
            absent = (context_keys & flag) == 0
            where = positions[:, None, :] & absent[None, :, None]
            context = np.where(where, reference[:, :, None], context)

        # the heads read the encoding, the patch flags and the frequency
        head_key = coalitions & (sales_bits | flag_bits) if done == 0 else coalitions
        _, first_of_head, head_of = np.unique(head_key, return_index=True, return_inverse=True)
        future = reshaped["future"][:, input_of, :step].copy()  # (n, S, step, F)
        if "year_ago" in bit:
            absent = (coalitions & bit["year_ago"]) == 0
            known = future[..., _YEAR_KNOWN] > 0.5
            year_reference = np.log1p(np.clip(level[:, None] / scale, 0, 1e4)).astype(np.float32)
            for column in _YEAR_VALUES:
                future[..., column] = np.where(known & absent[None, :, None], year_reference[:, :, None],
                                               future[..., column])
        extra = reshaped["extra"][:, input_of, :step] if "extra" in reshaped else None
        medians = _run_parts(network, context.astype(np.float32), context_of[first_of_head],
                             reshaped["patch_features"][:, input_of[first_of_head]],
                             reshaped["freq"][:, input_of[first_of_head]], head_of, future, extra, step, median)
        out[:, :, done:done + step] = medians * scale[:, :, None]
        done += step
    return out


def _masked_grids(grids: SeriesGrids, groups: list[InputGroup], keys: np.ndarray, n_hist: int,
                  sales: np.ndarray | None, fed: int) -> SeriesGrids:
    """Grids for each series x key (row ``i * len(keys) + k``), the flag groups absent from the key blanked.

    ``sales`` (already repeated per key) replaces the sales where earlier chunks' medians were fed back; those
    ``fed`` periods then count as observed.
    """
    u = len(keys)

    def repeated(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.repeat(values, u, axis=0)

    promo, price, event, window, holiday, extra = map(
        repeated, (grids.promo, grids.price, grids.event, grids.event_window, grids.holiday, grids.extra))
    observed = repeated(grids.observed)
    if sales is None:
        sales = repeated(grids.sales)
    else:
        observed[:, n_hist:n_hist + fed] = 1.0
    row_key = np.tile(keys, len(grids.sales))
    for index, group in enumerate(groups):
        absent = (row_key & (1 << index)) == 0
        if not absent.any():
            continue
        if group.kind == "past_flags":
            for grid in (promo, event, window, holiday):
                grid[absent, :n_hist] = 0.0
        elif group.kind == "promo":
            promo[absent, n_hist:] = 0.0
        elif group.kind == "price":
            price[absent, n_hist:] = np.nan  # the network reads an unknown price as the usual one
        elif group.kind == "events":
            for grid in (event, window):
                grid[absent, n_hist:] = 0.0
        elif group.kind == "holidays":
            holiday[absent, n_hist:] = 0.0
        elif group.kind == "extra" and extra is not None:
            extra[absent, n_hist:] = 0.0
    return SeriesGrids(grids.freq, sales, observed, promo, price, event, window, holiday, extra)


def _run_parts(network, context: np.ndarray, context_of_head: np.ndarray, patch_features: np.ndarray,
               freq: np.ndarray, head_of: np.ndarray, future: np.ndarray, extra: np.ndarray | None, step: int,
               median: int) -> np.ndarray:
    """The network's median for every coalition, run in parts: each distinct context through the encoder once,
    each distinct (encoding, patch flags) through the linear heads once, then the covariate heads per coalition.
    The same operations as ``TSFMNetwork.forward`` (the tests check that they give the same forecasts).

    context ``(n, Kc, C)``; per head key: ``context_of_head`` (its context), ``patch_features (n, Kh, P, 4)``,
    ``freq (n, Kh, 3)``; per coalition: ``head_of`` (its head key), ``future (n, S, step, F)``, ``extra``.
    Returns ``(n, S, step)``.
    """
    import torch

    config = network.config
    device = next(network.parameters()).device
    n, n_contexts, length = context.shape
    n_heads, n_coalitions = len(context_of_head), len(head_of)

    def tensor(values: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(device)

    with torch.no_grad():
        flat_context = tensor(context.reshape(-1, length))
        encoded = torch.cat([network.encoder(past_values=flat_context[lo:lo + _ROWS].unsqueeze(-1))
                             .last_hidden_state[:, 0] for lo in range(0, len(flat_context), _ROWS)])
        encoded = encoded.view(n, n_contexts, *encoded.shape[1:])
        heads, summaries = [], []
        flags, frequency = tensor(patch_features), tensor(freq)
        for lo in range(0, n_heads, max(1, _ROWS // n)):
            part = slice(lo, lo + max(1, _ROWS // n))
            flat = torch.cat([encoded[:, context_of_head[part]], flags[:, part]], dim=-1).flatten(2)
            flat = torch.cat([flat, frequency[:, part]], dim=-1).flatten(0, 1)
            out = network.head(network.dropout(flat)).view(len(flat), config.horizon, -1)[:, :step]
            heads.append(out.reshape(n, -1, step, out.shape[-1]))
            if config.use_covariates or config.extra_features:
                summaries.append(network.summary(flat).reshape(n, -1, config.summary_dim))
        head = torch.cat(heads, dim=1)
        summary = torch.cat(summaries, dim=1) if summaries else None
        medians = np.empty((n, n_coalitions, step))
        chunk = max(1, _ROWS * 16 // (n * step))
        for lo in range(0, n_coalitions, chunk):
            part = slice(lo, lo + chunk)
            index = torch.from_numpy(head_of[part]).to(device)
            out = head[:, index]
            if summary is not None:
                shared = summary[:, index].unsqueeze(2).expand(-1, -1, step, -1)
            if config.use_covariates:
                out = out + network.covariates(torch.cat([tensor(future[:, part]), shared], dim=-1))
            if config.extra_features:
                out = out + network.extra(torch.cat([tensor(extra[:, part]), shared], dim=-1))
            medians[:, part] = np.sort(out.float().cpu().numpy().astype(np.float64), axis=-1)[..., median]
    return medians


def shapley_values(values: np.ndarray) -> np.ndarray:
    """Exact Shapley values ``(n, G, h)`` from the outcomes ``values (n, 2^G, h)`` of every coalition (bit ``g``
    of the coalition index set: group ``g`` present). Each group's value is the weighted mean of the differences
    it makes, so a group that changes nothing gets exactly 0; they sum to ``values[:, -1] - values[:, 0]``."""
    n_coalitions = values.shape[1]
    n_groups = n_coalitions.bit_length() - 1
    if 1 << n_groups != n_coalitions:
        raise ValueError(f"Expected 2^G coalitions, got {n_coalitions}.")
    coalitions = np.arange(n_coalitions)
    sizes = np.array([int(s).bit_count() for s in coalitions])
    weight = np.array([factorial(k) * factorial(n_groups - k - 1) / factorial(n_groups) for k in range(n_groups)])
    out = np.empty((values.shape[0], n_groups, values.shape[2]))
    for g in range(n_groups):
        without = coalitions[(coalitions >> g) & 1 == 0]
        differences = values[:, without | (1 << g)] - values[:, without]
        out[:, g] = np.einsum("nsh,s->nh", differences, weight[sizes[without]])
    return out
