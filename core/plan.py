"""The reorder plan: sales + an inventory snapshot + a forecasting model -> what to order, how much, and why.

Two steps, so that a what-if on the service level or the budget does not forecast again:

* :func:`prepare_plan` fits the model on the whole history and draws sample paths of future demand, at the
  snapshot's level of detail (per SKU when the snapshot has no channel: the channels' draws are added up);
* :func:`build_plan` turns the draws into the policy of every row (:mod:`core.replenish`), the budget priority
  list and the tables the page and the spreadsheet show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core import schema
from core.errors import StockPilotError
from core.replenish import (
    CYCLE_SERVICE_LEVEL,
    DAYS_PER_YEAR,
    FILL_RATE,
    TARGETS,
    ProtectionDemand,
    budget_allocation,
    cycle_service_at,
    economic_order_quantity,
    fill_rate_at,
    order_quantities,
    order_up_to_levels,
    protection_demand,
    reorder_points,
)

Progress = Callable[[float, str], None]
ABC_CLASSES = ("A", "B", "C")
#: plan statuses, as a planner reads them
ORDER_NOW = "order now"
ENOUGH_STOCK = "enough stock"
NO_DEMAND = "no demand forecast"
NEW_ITEM = "new item: no sales history"
NOT_IN_SNAPSHOT = "not in the inventory snapshot"
STOCK_UNKNOWN = "on hand unknown"
#: the Data issues columns, in order (each source fills those it knows)
ISSUE_COLUMNS = ("source", "severity", "row", schema.UNIQUE_ID, schema.SKU, "field", "value", "problem", "count",
                 "examples", "action")
#: the snapshot's numeric fields the policy reads; a blank cell takes the PlanSettings field of the same name
PARAMETER_DEFAULTS = ("lead_time_days", "lead_time_sd_days", "review_period_days", "moq", "case_pack",
                      "holding_cost_rate", "order_cost")


class PlanError(StockPilotError):
    """The plan cannot be made from what was given (the message says why and what to do)."""


@dataclass(frozen=True)
class PlanSettings:
    """Everything the plan assumes. Snapshot values win over these defaults where the snapshot gives them.

    ``class_service_levels`` are the targets of ABC classes A, B and C (A: the items making the first 80% of sales
    value, B: the next 15%, C: the rest); ``service_level`` (the what-if) sets one target for every row, over the
    snapshot and the classes. ``budget``: the most the orders may cost; the units that cut expected shortage most
    per unit of money are bought first.
    """

    target: str = CYCLE_SERVICE_LEVEL
    class_service_levels: tuple[float, float, float] = (0.98, 0.95, 0.90)
    service_level: float | None = None
    snapshot_levels: bool = True
    lead_time_days: float = 7.0
    lead_time_sd_days: float = 0.0
    review_period_days: float = 7.0
    moq: float = 0.0
    case_pack: float = 1.0
    holding_cost_rate: float = 0.25
    order_cost: float | None = None
    use_eoq: bool = True
    budget: float | None = None
    n_samples: int = 400
    seed: int = 0
    abc_shares: tuple[float, float] = (0.80, 0.95)

    def __post_init__(self):
        if self.target not in TARGETS:
            raise PlanError(f"Unknown service target {self.target!r}; choose {' or '.join(TARGETS)}.")
        levels = list(self.class_service_levels) + ([self.service_level] if self.service_level is not None else [])
        if any(not 0 < float(level) < 1 for level in levels):
            raise PlanError(f"Service levels must lie between 0 and 1 (e.g. 0.95 for 95%); got {levels}.")
        if self.budget is not None and not self.budget >= 0:
            raise PlanError(f"The budget must be 0 or more; got {self.budget}.")
        if self.n_samples < 50:
            raise PlanError(f"At least 50 demand draws are needed for the policy; got {self.n_samples}.")


@dataclass
class PlanInputs:
    """The expensive part of a plan: one row per plan key with its snapshot values and the demand draws."""

    rows: pd.DataFrame            # unique_id, keys, category, abc_class, has_history, in_snapshot, snapshot fields
    paths: np.ndarray             # (n, S, h) future demand per period, float32; zeros for rows without history
    dates: pd.DatetimeIndex       # the h forecast periods
    freq: str
    model: str
    model_label: str
    data_end: pd.Timestamp
    issues: pd.DataFrame          # source, unique_id, field, problem, action
    forecast: pd.DataFrame        # the Forecast sheet: mean and quantiles per row and period
    notes: list[str] = field(default_factory=list)

    @property
    def period_days(self) -> float:
        return schema.PERIOD_DAYS[self.freq]


@dataclass
class Plan:
    """What :func:`build_plan` returns; every frame is ready to show or export."""

    table: pd.DataFrame
    forecast: pd.DataFrame
    parameters: pd.DataFrame
    issues: pd.DataFrame
    priority: pd.DataFrame
    summary: dict
    settings: PlanSettings
    model: str


# -- step 1: demand draws -----------------------------------------------------------------------------------------
def default_model() -> str:
    """The active fine-tuned transformer when one is registered, else the zero-shot transformer."""
    from core.registry import ModelRegistry

    try:
        active = ModelRegistry().active()
    except Exception:  # noqa: BLE001 - a workspace that cannot be opened must not stop a plan
        active = None
    return active.model_name if active is not None else "tsfm"


def prepare_plan(frame: pd.DataFrame, freq: str, inventory: pd.DataFrame, model: str | None = None,
                 settings: PlanSettings = PlanSettings(), known_future: Sequence[str] = (),
                 countries: Sequence[str] | None = None, issues: Sequence[pd.DataFrame] = (),
                 progress: Progress | None = None) -> PlanInputs:
    """Fit ``model`` (default: :func:`default_model`) on ``frame`` and draw future demand for every plan row.

    ``inventory`` is a snapshot frame as :mod:`core.inventory` returns it (``sku`` and optional ``channel`` /
    ``location`` plus the numeric fields). The plan's level of detail is the key fields both files have.
    ``issues``: what reading the files found (:func:`sales_issue_rows`, :func:`inventory_issue_rows`), carried to
    the plan's Data issues with the plan's own.
    """
    from core.models import label_of, make_model

    if inventory is None or inventory.empty:
        raise PlanError("The inventory snapshot has no rows: upload one with at least sku and on_hand.")
    model = model or default_model()
    keys = [k for k in schema.KEY_FIELDS if k in inventory.columns and k in frame.columns]
    if schema.SKU not in keys:
        raise PlanError("Both the sales and the inventory snapshot need a sku column to be matched.")
    found, notes = [], []
    sales_keys = [k for k in schema.KEY_FIELDS if k in frame.columns]
    coarser = [k for k in sales_keys if k not in keys]
    if coarser:
        notes.append(f"The snapshot has no {' or '.join(coarser)}: the plan is per {' x '.join(keys)}, and the "
                     f"forecasts of each {' and '.join(coarser)} are added up.")
    dropped = [k for k in schema.KEY_FIELDS if k in inventory.columns and k not in keys]
    snapshot = _snapshot_rows(inventory, keys, dropped, notes)
    series = _series_keys(frame, keys)
    rows = _plan_rows(snapshot, series, keys)
    rows = rows.merge(_abc(frame, series, rows, settings.abc_shares), on=schema.UNIQUE_ID, how="left")
    rows["abc_class"] = rows["abc_class"].fillna("C")
    if not (rows["in_snapshot"] & rows["has_history"]).any():
        raise PlanError(
            f"No row of the inventory snapshot matches a sales series by {' x '.join(keys)}: the snapshot has e.g. "
            f"{', '.join(map(repr, snapshot[schema.UNIQUE_ID].head(3)))}, the sales e.g. "
            f"{', '.join(map(repr, series['plan_id'].drop_duplicates().head(3)))}. Check that the codes are "
            "spelled the same in both files.")
    for uid in rows.loc[~rows["in_snapshot"], schema.UNIQUE_ID]:
        found.append(("plan", uid, "", "sold in the history but not in the inventory snapshot",
                       "not planned: add it to the snapshot to plan it"))
    for uid in rows.loc[~rows["has_history"], schema.UNIQUE_ID]:
        found.append(("plan", uid, "", "in the snapshot but never in the sales history",
                       "no forecast: nothing is ordered; set its order by hand"))

    period_days = schema.PERIOD_DAYS[freq]
    lead = _number(rows, "lead_time_days", settings.lead_time_days)
    spread = _number(rows, "lead_time_sd_days", settings.lead_time_sd_days)
    review = _number(rows, "review_period_days", settings.review_period_days)
    longest = float(np.max(lead + 3 * spread + review)) if len(rows) else settings.lead_time_days
    h = int(min(400, max(np.ceil(longest / period_days) + 1, schema.DEFAULT_HORIZON[freq])))
    if progress:
        progress(0.05, f"Fitting {label_of(model)}")
    settings_kw = {"freq": freq, "known_future": tuple(known_future), "seed": settings.seed}
    if countries is not None:
        settings_kw["countries"] = tuple(countries)
    forecaster = make_model(model, **settings_kw).fit(frame)
    if progress:
        progress(0.5, f"Drawing {settings.n_samples} demand paths over {h} periods")
    draws = forecaster.sample_paths(h, n_samples=settings.n_samples, seed=settings.seed)
    paths = _paths_per_row(draws, series, rows)
    plan_issues = pd.DataFrame(found, columns=["source", schema.UNIQUE_ID, "field", "problem", "action"])
    if progress:
        progress(1.0, "Demand drawn")
    forecast = forecast_table(rows, paths, draws.dates, freq)
    found = pd.concat([*[i for i in issues if len(i)], plan_issues], ignore_index=True)
    found = found[[c for c in ISSUE_COLUMNS if c in found.columns] + [c for c in found if c not in ISSUE_COLUMNS]]
    return PlanInputs(rows=rows, paths=paths, dates=draws.dates, freq=freq, model=model,
                      model_label=label_of(model), data_end=pd.Timestamp(frame[schema.DS].max()), issues=found,
                      forecast=forecast, notes=notes)


def _snapshot_rows(inventory: pd.DataFrame, keys: list[str], dropped: list[str], notes: list[str]) -> pd.DataFrame:
    """One row per plan key: stock added up and parameters of the first row where the snapshot is more detailed."""
    snapshot = inventory.copy()
    for key in keys:
        snapshot[key] = snapshot[key].astype(str)
    stock = [c for c in ("on_hand", "on_order", "backorders") if c in snapshot.columns]
    if dropped:
        notes.append(f"The sales have no {' or '.join(dropped)}: the snapshot's stock is added up per "
                     f"{' x '.join(keys)} and the first row's lead time, MOQ and costs are used.")
    grouped = snapshot.groupby(keys, sort=False, dropna=False)
    first = grouped.first().reset_index()
    if stock:
        first[stock] = grouped[stock].sum(min_count=1).reset_index(drop=True)[stock].to_numpy()
    first[schema.UNIQUE_ID] = _uid(first, keys)
    return first


def _uid(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    uid = frame[keys[0]].astype(str)
    for key in keys[1:]:
        uid = uid + schema.ID_SEPARATOR + frame[key].astype(str)
    return uid


def _series_keys(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per sales series: its plan key, category and whether it ever sold."""
    columns = [schema.UNIQUE_ID] + keys + ([schema.CATEGORY] if schema.CATEGORY in frame.columns else [])
    series = frame.groupby(schema.UNIQUE_ID, sort=True)[columns[1:]].first().reset_index()
    for key in keys:
        series[key] = series[key].astype(str)
    series["plan_id"] = _uid(series, keys)
    return series


def _plan_rows(snapshot: pd.DataFrame, series: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    known = series.drop_duplicates("plan_id")[["plan_id"] + keys + (
        [schema.CATEGORY] if schema.CATEGORY in series.columns else [])]
    known = known.rename(columns={"plan_id": schema.UNIQUE_ID})
    rows = snapshot.merge(known[[schema.UNIQUE_ID] + [c for c in known.columns if c not in snapshot.columns]],
                          on=schema.UNIQUE_ID, how="outer", indicator=True)
    missing_keys = rows[keys].isna().any(axis=1)
    if missing_keys.any():
        filled = known.set_index(schema.UNIQUE_ID).reindex(rows.loc[missing_keys, schema.UNIQUE_ID])
        for key in keys:
            rows.loc[missing_keys, key] = filled[key].to_numpy()
    rows["in_snapshot"] = rows["_merge"] != "right_only"
    rows["has_history"] = rows["_merge"] != "left_only"
    rows = rows.drop(columns="_merge")
    if schema.CATEGORY not in rows.columns:
        rows[schema.CATEGORY] = ""
    return rows.sort_values(keys, kind="stable").reset_index(drop=True)


def _abc(frame: pd.DataFrame, series: pd.DataFrame, rows: pd.DataFrame, shares: tuple[float, float]) -> pd.DataFrame:
    """A / B / C by sales value over the last 365 days: A makes the first ``shares[0]`` of it, B up to
    ``shares[1]``, C the rest (units x price; units x unit cost where there is no price; units alone else)."""
    recent = frame.loc[frame[schema.DS] > frame[schema.DS].max() - pd.Timedelta(days=365)]
    units = pd.to_numeric(recent[schema.Y], errors="coerce").fillna(0).clip(lower=0)
    plan_id = series.set_index(schema.UNIQUE_ID)["plan_id"].reindex(recent[schema.UNIQUE_ID]).to_numpy()
    if schema.PRICE in recent.columns:
        value = units * pd.to_numeric(recent[schema.PRICE], errors="coerce").fillna(0).clip(lower=0)
    else:
        value = units
    totals = pd.Series(value.to_numpy(), index=plan_id).groupby(level=0).sum()
    totals = totals.reindex(rows[schema.UNIQUE_ID]).fillna(0.0)
    if schema.PRICE not in recent.columns and "unit_cost" in rows.columns:
        cost = pd.to_numeric(rows.set_index(schema.UNIQUE_ID)["unit_cost"], errors="coerce")
        totals = totals * cost.reindex(totals.index).fillna(1.0)
    ordered = totals.sort_values(ascending=False, kind="stable")
    total = ordered.sum()
    before = (ordered.cumsum() - ordered) / total if total > 0 else pd.Series(1.0, index=ordered.index)
    classes = np.where(before < shares[0], "A", np.where(before < shares[1], "B", "C"))
    classes = np.where(ordered.to_numpy() > 0, classes, "C")
    return pd.DataFrame({schema.UNIQUE_ID: ordered.index, "abc_class": classes, "sales_value_365d": ordered.values})


def _paths_per_row(draws, series: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Sum the series' draws into their plan rows; rows without history get zeros."""
    n_samples, h = draws.values.shape[1:]
    position = pd.Series(np.arange(len(rows)), index=rows[schema.UNIQUE_ID])
    target = position.reindex(series.set_index(schema.UNIQUE_ID)["plan_id"].reindex(draws.ids)).to_numpy()
    paths = np.zeros((len(rows), n_samples, h), dtype=np.float32)
    usable = np.flatnonzero(~np.isnan(target))
    if len(usable) == 0:
        return paths
    order = usable[np.argsort(target[usable], kind="stable")]
    rows_of = target[order].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, rows_of[1:] != rows_of[:-1]])
    values = draws.values[order].astype(np.float32, copy=False)
    paths[rows_of[starts]] = values[starts] if len(starts) == len(order) else np.add.reduceat(values, starts, axis=0)
    return paths


def inventory_issue_rows(issues: pd.DataFrame) -> pd.DataFrame:
    """The snapshot loader's excluded or altered rows, for the plan's Data issues (as text)."""
    out = pd.DataFrame({"source": "inventory snapshot"}, index=issues.index)
    for column in issues.columns:
        out[column] = issues[column].astype(str).where(issues[column].notna(), "")
    return out.reset_index(drop=True)


def sales_issue_rows(report) -> pd.DataFrame:
    """The sales validation report's findings (a :class:`~core.data.report.ValidationReport`), one row each."""
    findings = report.findings_frame()
    if findings.empty:
        return pd.DataFrame()
    return pd.DataFrame({"source": "sales file", "problem": findings["finding"], "count": findings["count"],
                         "examples": findings["examples"].str.slice(0, 500), "severity": findings["severity"]})


# -- step 2: the policy ---------------------------------------------------------------------------------------------
def build_plan(inputs: PlanInputs, settings: PlanSettings = PlanSettings()) -> Plan:
    """The reorder plan for ``settings`` from drawn demand (cheap: no model is fitted)."""
    rows = inputs.rows
    n = len(rows)
    period_days = inputs.period_days
    values = {name: _number(rows, name, getattr(settings, name)) for name in PARAMETER_DEFAULTS}
    values["case_pack"] = np.where(values["case_pack"] >= 1, values["case_pack"], 1.0)
    defaults_used = _defaults_used(rows, settings)
    on_hand = _number(rows, "on_hand", 0.0)
    on_order = _number(rows, "on_order", 0.0)
    backorders = _number(rows, "backorders", 0.0)
    position = on_hand + on_order - backorders
    unit_cost = _number(rows, "unit_cost", np.nan)
    level = service_levels(rows, settings)

    demand = protection_demand(inputs.paths, values["lead_time_days"] / period_days,
                               values["lead_time_sd_days"] / period_days,
                               values["review_period_days"] / period_days, seed=settings.seed)
    reorder_point = reorder_points(demand, level, settings.target)
    daily_mean = inputs.paths.mean(axis=(1, 2)) / period_days
    eoq = np.full(n, np.nan)
    if settings.use_eoq:
        eoq = np.ceil(economic_order_quantity(daily_mean * DAYS_PER_YEAR, values["order_cost"], unit_cost,
                                              values["holding_cost_rate"]))
    order_up_to = order_up_to_levels(reorder_point, eoq, demand.review_mean)
    quantity = order_quantities(position, reorder_point, order_up_to, values["moq"], values["case_pack"])
    stock_known = _number(rows, "on_hand", np.nan) >= 0
    planned = rows["in_snapshot"].to_numpy() & rows["has_history"].to_numpy() & stock_known
    quantity = np.where(planned, quantity, 0.0)

    table = _table(rows, inputs, settings, values, level, demand, reorder_point, order_up_to, eoq, quantity,
                   on_hand, on_order, backorders, position, unit_cost, daily_mean, planned, defaults_used)
    priority = pd.DataFrame()
    summary = _summary(table, demand, position, quantity, planned, "")
    if settings.budget is not None:
        allowed, priority = budget_allocation(demand, position, quantity, values["moq"], values["case_pack"],
                                              unit_cost, settings.budget)
        table.insert(table.columns.get_loc("order_value") + 1, "budget_order_qty", allowed)
        table.insert(table.columns.get_loc("budget_order_qty") + 1, "budget_order_value", allowed * unit_cost)
        summary.update(_summary(table, demand, position, allowed, planned, "budget_"))
        summary["budget"] = settings.budget
        priority = _priority_table(priority, table)
    table = _sorted(table)
    return Plan(table=table, forecast=inputs.forecast, parameters=parameter_table(inputs, settings),
                issues=inputs.issues, priority=priority, summary=summary, settings=settings, model=inputs.model)


def _number(rows: pd.DataFrame, column: str, default: float | None) -> np.ndarray:
    default = np.nan if default is None else float(default)
    if column not in rows.columns:
        return np.full(len(rows), default)
    return pd.to_numeric(rows[column], errors="coerce").fillna(default).to_numpy(dtype=float)


def _defaults_used(rows: pd.DataFrame, settings: PlanSettings) -> np.ndarray:
    """Per row, the parameters that were blank in the snapshot and took the settings' defaults (comma-separated)."""
    used = np.full(len(rows), "", dtype=object)
    for column in PARAMETER_DEFAULTS:
        blank = (pd.to_numeric(rows[column], errors="coerce").isna().to_numpy() if column in rows.columns
                 else np.ones(len(rows), dtype=bool))
        used = np.where(blank, np.where(used == "", column, used + ", " + column), used)
    return used


def service_levels(rows: pd.DataFrame, settings: PlanSettings) -> np.ndarray:
    """Each row's target: the what-if level when set, else the snapshot's (when used), else its ABC class's."""
    if settings.service_level is not None:
        return np.full(len(rows), float(settings.service_level))
    by_class = dict(zip(ABC_CLASSES, settings.class_service_levels))
    level = rows["abc_class"].map(by_class).fillna(by_class["C"]).to_numpy(dtype=float)
    column = "fill_rate" if settings.target == FILL_RATE else "service_level"
    if settings.snapshot_levels and column in rows.columns:
        given = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
        level = np.where((given > 0) & (given < 1), given, level)
    return level


def _table(rows, inputs, settings, values, level, demand: ProtectionDemand, reorder_point, order_up_to, eoq,
           quantity, on_hand, on_order, backorders, position, unit_cost, daily_mean, planned,
           defaults_used) -> pd.DataFrame:
    keys = [k for k in schema.KEY_FIELDS if k in rows.columns]
    after = position + quantity
    risk_before = (demand.lead > position[:, None]).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(daily_mean > 0, on_hand / daily_mean, np.nan)
    status = np.select(
        [~rows["in_snapshot"], ~rows["has_history"], ~planned, quantity > 0, demand.protection_mean <= 0],
        [NOT_IN_SNAPSHOT, NEW_ITEM, STOCK_UNKNOWN, ORDER_NOW, NO_DEMAND], ENOUGH_STOCK)
    table = rows[[schema.UNIQUE_ID] + keys + [schema.CATEGORY, "abc_class"]].copy()
    columns = {
        "status": status, "order_qty": quantity, "order_value": quantity * unit_cost,
        "on_hand": on_hand, "on_order": on_order, "backorders": backorders, "inventory_position": position,
        "mean_daily_demand": daily_mean, "days_of_cover": cover,
        "lead_time_days": values["lead_time_days"], "lead_time_sd_days": values["lead_time_sd_days"],
        "review_period_days": values["review_period_days"],
        "target": settings.target, "service_level": level,
        "lead_time_demand": demand.lead_mean, "protection_demand": demand.protection_mean,
        "safety_stock": reorder_point - demand.protection_mean, "reorder_point": reorder_point,
        "order_up_to": order_up_to, "eoq": eoq,
        "stockout_risk": risk_before, "expected_service_level": cycle_service_at(demand, after),
        "expected_fill_rate": fill_rate_at(demand, after),
        "moq": values["moq"], "case_pack": values["case_pack"], "unit_cost": unit_cost,
        "defaults_used": defaults_used,
    }
    for name, column in columns.items():
        table[name] = column
    unplanned = ~planned
    blank = ["order_value", "days_of_cover", "lead_time_demand", "protection_demand", "safety_stock",
             "reorder_point", "order_up_to", "eoq", "stockout_risk", "expected_service_level",
             "expected_fill_rate", "mean_daily_demand"]
    table.loc[unplanned, blank] = np.nan
    table.loc[~rows["in_snapshot"].to_numpy(), ["on_hand", "on_order", "backorders", "inventory_position"]] = np.nan
    return table


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    """Orders first (riskiest first), then the other planned rows, then the rows that could not be planned."""
    rank = np.where(table["order_qty"] > 0, 0, np.where(table["reorder_point"].notna(), 1, 2))
    return (table.assign(_rank=rank).sort_values(["_rank", "stockout_risk", schema.UNIQUE_ID],
                                                 ascending=[True, False, True], kind="stable")
            .drop(columns="_rank").reset_index(drop=True))


def _summary(table: pd.DataFrame, demand: ProtectionDemand, position, quantity, planned, prefix: str) -> dict:
    after = position + quantity
    csl = cycle_service_at(demand, after)[planned]
    short = fill_rate_at(demand, after)[planned]
    weight = demand.review_mean[planned]
    out = {
        f"{prefix}orders": int(np.sum(quantity > 0)),
        f"{prefix}units": float(np.sum(quantity)),
        f"{prefix}expected_service_level": float(csl.mean()) if len(csl) else float("nan"),
        f"{prefix}expected_fill_rate": float(np.sum(short * weight) / weight.sum()) if weight.sum() > 0 else 1.0,
    }
    if not prefix:
        out.update(rows=len(table), planned=int(planned.sum()), order_value=float(np.nansum(table["order_value"])),
                   unpriced_orders=int(((table["order_qty"] > 0) & table["unit_cost"].isna()).sum()))
    else:
        out[f"{prefix}order_value"] = float(np.nansum(table[f"{prefix}order_value"]))
    return out


def _priority_table(blocks: dict[str, np.ndarray], table: pd.DataFrame) -> pd.DataFrame:
    """The budget's buying list: every block of every order in priority order, with the running cost."""
    keys = [k for k in schema.KEY_FIELDS if k in table.columns]
    rows = table.iloc[blocks["row"].astype(np.int64)] if len(blocks["row"]) else table.iloc[[]]
    out = rows[[schema.UNIQUE_ID] + keys + ["abc_class"]].reset_index(drop=True)
    out.insert(0, "priority", np.arange(1, len(out) + 1))
    out["units"] = blocks["units"]
    out["cost"] = blocks["cost"]
    out["expected_shortage_avoided"] = blocks["shortage_avoided"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["shortage_avoided_per_1000"] = 1000 * blocks["shortage_avoided"] / blocks["cost"]
    out["within_budget"] = np.where(blocks["bought"].astype(bool), "yes", "no")
    out["cumulative_cost"] = np.cumsum(np.where(blocks["bought"].astype(bool), blocks["cost"], 0.0))
    return out


#: quantile levels shown in the Forecast sheet
FORECAST_LEVELS = (0.05, 0.1, 0.5, 0.9, 0.95)


def forecast_table(rows: pd.DataFrame, paths: np.ndarray, dates: pd.DatetimeIndex, freq: str,
                   periods: int | None = None) -> pd.DataFrame:
    """Per plan row with history and forecast period: the mean and quantiles of demand (from the policy's draws)."""
    periods = min(periods or schema.DEFAULT_HORIZON[freq], paths.shape[2])
    has = rows["has_history"].to_numpy()
    part = paths[has, :, :periods]
    n = int(has.sum())
    out = {schema.UNIQUE_ID: np.repeat(rows.loc[has, schema.UNIQUE_ID].to_numpy(), periods),
           "date": np.tile(dates[:periods].values, n), "mean": part.mean(axis=1).reshape(-1)}
    ranks = np.clip(np.round(np.asarray(FORECAST_LEVELS) * (part.shape[1] - 1)).astype(np.int64), 0, None)
    ordered = np.partition(part, np.unique(ranks), axis=1) if n else part
    for level, rank in zip(FORECAST_LEVELS, ranks):
        out[f"q{round(level * 100):d}"] = ordered[:, rank].reshape(-1) if n else np.zeros(0)
    return pd.DataFrame(out)


def parameter_table(inputs: PlanInputs, settings: PlanSettings) -> pd.DataFrame:
    """Every assumption behind the plan, as a planner reads it (the Parameters sheet)."""
    levels = ", ".join(f"{c} {v:.0%}" for c, v in zip(ABC_CLASSES, settings.class_service_levels))
    unit = schema.FREQ_NAMES[inputs.freq]
    rows = [
        ("Forecasting model", inputs.model_label, f"fitted on all sales up to {inputs.data_end:%Y-%m-%d}"),
        ("Demand draws", settings.n_samples, f"joint sample paths of {unit} demand per row; lead times drawn "
                                             "per path (normal, never below 0)"),
        ("Service target", settings.target, "cycle service level: chance of no stockout in a cycle; fill rate: "
                                             "share of demand served from stock"),
        ("Service level for every row (what-if)",
         "" if settings.service_level is None else f"{settings.service_level:.1%}",
         "when set, it overrides the snapshot and the ABC classes"),
        ("Service level by ABC class", levels,
         f"A: items making the first {settings.abc_shares[0]:.0%} of the last year's sales value, B: up to "
         f"{settings.abc_shares[1]:.0%}, C: the rest"),
        ("Snapshot service levels used", "yes" if settings.snapshot_levels else "no",
         "a service_level (or fill_rate) in the snapshot wins over the class default"),
        ("Default lead time (days)", settings.lead_time_days, "for rows whose snapshot cell is blank"),
        ("Default lead time standard deviation (days)", settings.lead_time_sd_days, "for blank rows"),
        ("Default review period (days)", settings.review_period_days, "for blank rows"),
        ("Default MOQ", settings.moq, "for blank rows"),
        ("Default case pack", settings.case_pack, "for blank rows"),
        ("Default holding cost rate (per year)", settings.holding_cost_rate, "for blank rows; share of unit cost"),
        ("Default order cost", "" if settings.order_cost is None else settings.order_cost,
         "for blank rows; without one there is no EOQ"),
        ("EOQ used", "yes" if settings.use_eoq else "no",
         "order-up-to = reorder point + max(0, EOQ - demand over a review period)"),
        ("Budget", "" if settings.budget is None else settings.budget,
         "orders bought in order of expected shortage avoided per unit of money until the budget is spent"),
        ("Policy", "periodic review (R, s, S)",
         "at each review, when on hand + on order - backorders is below the reorder point s, order up to S, "
         "rounded up to the case pack and at least the MOQ"),
        ("Reorder point", "quantile of demand over lead time + review period",
         "cycle service level alpha: its alpha-quantile; fill rate beta: the smallest level whose expected "
         "shortage per cycle is at most (1 - beta) x the demand of a review period"),
        ("Safety stock", "reorder point - mean demand over lead time + review period", ""),
        ("Stockout risk", "chance that demand before this order can arrive exceeds the inventory position",
         "over the lead time, from the same draws"),
        ("Random seed", settings.seed, "the same inputs and seed give the same plan"),
    ]
    rows += [("Note", note, "") for note in inputs.notes]
    return pd.DataFrame(rows, columns=["parameter", "value", "meaning"]).astype({"value": str})
