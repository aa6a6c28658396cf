"""Causal promotion effects: what each promotion added, what it took from the days after and from sibling SKUs.

The estimator, in three stages:

1. **Baseline per series.** A negative-binomial regression with a log link is fitted to the series' *clean*
   periods: no promotion of its own, not in the window after one (the pull-forward dip), no promotion on a
   sibling SKU (those days are cannibalised), no stock-out (sales are censored) and no filled gap. Its inputs
   are a piecewise-linear trend (a knot every ``trend_knot_days``), yearly harmonics, weekday, the e-commerce
   event calendar and public holidays, the regular (non-promotional) price where it changes, and a control
   index: comparable series in the same category sold on other channels or locations, which share demand
   shocks the calendar does not know about. The fit predicts what would have sold on every period — the
   counterfactual.
2. **Raw estimate per episode.** Actual over counterfactual on the episode's uncensored periods (a ratio
   ``R``), with a variance from the negative-binomial noise (its dispersion estimated on the clean periods,
   inflated for the residuals' autocorrelation over the episode's length) plus the baseline's own estimation
   error (delta method on the regression's covariance).
3. **Pooled model and shrinkage.** One 5-day promotion is noisy. Episode ratios are pooled in a regression on
   category (intercept and a constant-elasticity slope in ``-log(1 - depth)`` where depth is known) and
   channel, fitted by iteratively weighted least squares with a between-episode heterogeneity ``tau²``
   (Paule–Mandel) and standard errors clustered by series. Each episode's reported uplift is the empirical-Bayes
   combination of its own ratio and the pooled prediction, weighted by their variances; its 95 % interval is
   the normal posterior interval (the pooled prediction's own uncertainty included). When episodes really
   differ, ``tau²`` is large and each keeps its own estimate; when they do not, they share the pooled one.

The period after each promotion (``post_periods``) and the promotion's days on sibling SKUs (same category,
channel and location) are measured the same way as raw actual-minus-counterfactual sums with their own
intervals. Placebo episodes — fake promotions on clean stretches of every series, run through the same three
stages as a promotion type of their own — report how often the estimator finds an effect that is not there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core import schema
from core.data.calendar import DEFAULT_COUNTRIES, event_features
from core.errors import StockPilotError

EPISODE_ID = "episode_id"
PHASE = "phase"
PROMOTION, AFTER, SIBLING = "promotion", "after", "sibling promotion"
#: In one episode's view (:func:`effect_path`), the series' other promotions and the periods after them.
OTHER_PROMOTION = "other promotion"
#: Columns the episode table always has, in this order (group columns are added where the data have them).
EPISODE_COLUMNS = (
    EPISODE_ID, schema.UNIQUE_ID, "start", "end", "periods", "depth", "actual_units", "baseline_units",
    "incremental_units", "incremental_lo", "incremental_hi", "uplift_pct", "uplift_lo", "uplift_hi",
    "raw_uplift_pct", "raw_uplift_lo", "raw_uplift_hi", "after_effect_units", "after_effect_lo", "after_effect_hi",
    "sibling_effect_units", "sibling_effect_lo", "sibling_effect_hi", "net_incremental_units", "stockout_periods",
    "siblings", "significant",
)
GROUP_FIELDS = (schema.SKU, schema.CHANNEL, schema.LOCATION, schema.CATEGORY)
PROMO_COLUMN, PRICE_CUTS = "promo column", "price cuts"
#: The pooled model's shared term for categories with too few episodes (or series) of their own.
OTHER_GROUP = "other (small categories)"
_POST_PERIODS = {schema.DAILY: 7, schema.WEEKLY: 1, schema.MONTHLY: 0}
_PERIOD_WORDS = {schema.DAILY: "days", schema.WEEKLY: "weeks", schema.MONTHLY: "months"}
_MIN_CLEAN = 30
_MIN_CLUSTERS = 4
_SHORT_HISTORY = 90
Progress = Callable[[float, str], None]


class PromotionError(StockPilotError):
    """The data cannot support a promotion analysis; the message says why and what to map or change."""


@dataclass(frozen=True)
class PromotionSettings:
    """How promotions are found and measured.

    post_periods : periods after each promotion measured for a pull-forward dip (``None``: 7 days, 1 week or
        nothing on monthly data) and left out of the baseline fit.
    level : coverage of every interval.
    countries : public holidays used as calendar inputs.
    controls : use comparable series on other channels / locations as a control index.
    placebo_per_series : fake episodes placed on clean stretches of each series.
    min_group_episodes : a category or channel gets its own term in the pooled model from this many episodes.
    price_cut : without a promotion column, a price this far below the regular price counts as a promotion.
    trend_knot_days : spacing of the baseline trend's knots.
    covariates : other numeric columns of the frame that move demand and are not the promotion being measured
        (e.g. school holidays); inputs of the baseline.
    exclude : 0/1 columns marking other interventions (another campaign type, or the real dates when fake ones
        are tested): those periods and the ``post_periods`` after each are left out of the baseline fit.
    seed : placement of the placebo episodes.
    """

    post_periods: int | None = None
    level: float = 0.95
    countries: tuple[str, ...] = DEFAULT_COUNTRIES
    controls: bool = True
    placebo_per_series: int = 2
    min_group_episodes: int = 8
    price_cut: float = 0.05
    trend_knot_days: int = 91
    covariates: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.5 <= self.level < 1:
            raise ValueError(f"level must be between 0.5 and 1, got {self.level}.")
        if self.post_periods is not None and self.post_periods < 0:
            raise ValueError(f"post_periods must be 0 or more, got {self.post_periods}.")
        if not 0 < self.price_cut < 1:
            raise ValueError(f"price_cut must be between 0 and 1, got {self.price_cut}.")

    def post_for(self, freq: str) -> int:
        return _POST_PERIODS.get(freq, 0) if self.post_periods is None else int(self.post_periods)

    @property
    def z(self) -> float:
        from scipy.stats import norm
        return float(norm.ppf(0.5 + self.level / 2))


@dataclass
class PromotionAnalysis:
    """Everything the Promotions page, the CLI and the benchmark read.

    episodes : one row per promotion episode (:data:`EPISODE_COLUMNS` plus the group fields present).
    summary : pooled averages by ``level`` (``all``, ``category``, ``channel``, ``location``, ``depth``) and ``group``.
    elasticity : price elasticities per category (promotional price cuts, and regular price changes).
    placebo : one row per fake episode with the same estimates as ``episodes``.
    placebo_rates : share of placebo episodes whose interval excludes zero, pooled and raw.
    baseline : per series and period: ``y``, ``counterfactual`` and its predictive ``counterfactual_lo/hi``,
        ``noise_var`` and ``model_sd`` (for cumulative bands), ``in_fit``, ``phase`` and ``episode_id``.
    model : the pooled model's terms, heterogeneity and fit notes.
    caveats : plain-words warnings about what the data can and cannot support.
    """

    episodes: pd.DataFrame
    summary: pd.DataFrame
    elasticity: pd.DataFrame
    placebo: pd.DataFrame
    placebo_rates: dict
    baseline: pd.DataFrame
    model: dict
    caveats: list[str]
    freq: str
    settings: PromotionSettings = field(default_factory=PromotionSettings)


# --- episodes --------------------------------------------------------------------------------------------------------

def _group_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in GROUP_FIELDS if c in frame.columns and frame[c].notna().any()]


def _regular_price(price: pd.Series, on_promo: pd.Series, ids: pd.Series) -> pd.Series:
    """The price outside promotions, carried forward (and back at the start) through each promotion."""
    regular = price.where(~on_promo & price.gt(0))
    return regular.groupby(ids, sort=False).transform(lambda s: s.ffill().bfill())


def promotion_marks(frame: pd.DataFrame, settings: PromotionSettings | None = None) -> pd.DataFrame:
    """Per row of the (sorted) frame: ``on_promo``, ``depth`` (NaN where unknown) and ``regular_price``.

    A ``promo`` column marks promotions (a depth between 0 and 1 is the discount; 1 is a plain flag). Without one,
    a price at least ``price_cut`` below the series' regular price (the rolling median over 8 weeks) counts. With
    a flag and a price, the depth is the cut against the regular price.
    """
    settings = settings or PromotionSettings()
    ids = frame[schema.UNIQUE_ID]
    price = frame[schema.PRICE].astype(float) if schema.PRICE in frame.columns else None
    has_promo = schema.PROMO in frame.columns and frame[schema.PROMO].fillna(0).gt(0).any()
    if has_promo:
        promo = frame[schema.PROMO].astype(float).fillna(0)
        on_promo = promo.gt(0)
        depth = promo.where(on_promo & promo.lt(1))
    elif price is not None and price.notna().any():
        reference = price.groupby(ids, sort=False).transform(
            lambda s: s.rolling(57, center=True, min_periods=1).median())
        on_promo = price.lt((1 - settings.price_cut) * reference) & price.gt(0)
        depth = pd.Series(np.nan, index=frame.index)
    else:
        raise PromotionError(
            "No promotions to analyse: map a 'promo' column (0/1, yes/no, or the discount such as 0.2 or 20%) "
            "or a 'price' column whose cuts mark promotions."
            + (" The promo column is 0 everywhere." if schema.PROMO in frame.columns else ""))
    regular = _regular_price(price, on_promo, ids) if price is not None else pd.Series(np.nan, index=frame.index)
    if price is not None:
        cut = (1 - price / regular).where(on_promo & regular.gt(0))
        depth = depth.fillna(cut.where(cut.between(0.005, 0.95)))
    marks = pd.DataFrame({"on_promo": on_promo.to_numpy(), "depth": depth.to_numpy(),
                          "regular_price": regular.to_numpy()}, index=frame.index)
    marks.attrs["source"] = PROMO_COLUMN if has_promo else PRICE_CUTS
    return marks


def _sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in (schema.UNIQUE_ID, schema.DS, schema.Y) if c not in frame.columns]
    if missing:
        raise PromotionError(f"The sales frame lacks column(s) {missing}; load it through the upload validator.")
    if frame.empty:
        raise PromotionError("The sales data are empty: there is nothing to analyse.")
    return frame.sort_values([schema.UNIQUE_ID, schema.DS], ignore_index=True)


def find_episodes(frame: pd.DataFrame, freq: str = schema.DAILY,
                  settings: PromotionSettings | None = None) -> pd.DataFrame:
    """Promotion episodes: runs of consecutive promotion periods of one series.

    Returns one row per episode: ``episode_id``, ``unique_id``, the group fields present (``sku``, ``channel``,
    ``location``, ``category``), ``start``, ``end``, ``periods``, ``depth`` (mean discount, NaN if unknown) and
    ``promo_price`` (mean price during the episode, where prices exist).
    """
    data = _sorted_frame(frame)
    marks = promotion_marks(data, settings)
    return _episodes_from(data, marks, freq)


def _episodes_from(data: pd.DataFrame, marks: pd.DataFrame, freq: str) -> pd.DataFrame:
    groups = _group_columns(data)
    step = _step(freq)
    on = marks["on_promo"].to_numpy()
    ids = data[schema.UNIQUE_ID].to_numpy()
    ds = data[schema.DS].to_numpy()
    new_series = np.r_[True, ids[1:] != ids[:-1]]
    gap = np.r_[True, (ds[1:] - ds[:-1]) > step]
    starts = on & (new_series | gap | ~np.r_[False, on[:-1]])
    run = np.cumsum(starts) - 1
    run = np.where(on, run, -1)
    columns = [EPISODE_ID, schema.UNIQUE_ID, *groups, "start", "end", "periods", "depth", "promo_price"]
    if not on.any():
        return pd.DataFrame(columns=columns)
    rows = pd.DataFrame({"run": run[on], schema.UNIQUE_ID: ids[on], schema.DS: ds[on],
                         "depth": marks["depth"].to_numpy()[on],
                         "price": (data[schema.PRICE].to_numpy(dtype=float)[on]
                                   if schema.PRICE in data.columns else np.nan)})
    for column in groups:
        rows[column] = data[column].to_numpy()[on]
    agg = rows.groupby("run", sort=True).agg(
        **{schema.UNIQUE_ID: (schema.UNIQUE_ID, "first")}, **{c: (c, "first") for c in groups},
        start=(schema.DS, "min"), end=(schema.DS, "max"), periods=(schema.DS, "size"),
        depth=("depth", "mean"), promo_price=("price", "mean"))
    agg = agg.reset_index(drop=True)
    number = agg.groupby(schema.UNIQUE_ID, sort=False).cumcount() + 1
    agg.insert(0, EPISODE_ID, agg[schema.UNIQUE_ID].astype(str) + " #" + number.astype(str))
    return agg[columns]


def _step(freq: str) -> np.timedelta64:
    days = {schema.DAILY: 1, schema.WEEKLY: 7, schema.MONTHLY: 31}.get(freq, 1)
    return np.timedelta64(days, "D")


# --- the baseline regression ------------------------------------------------------------------------------------------

@dataclass
class _Fit:
    mu: np.ndarray          # counterfactual mean on every period
    model_var_log: np.ndarray  # var of log(mu) from the coefficient covariance, per period
    cov: np.ndarray         # coefficient covariance
    X: np.ndarray           # design on every period
    alpha: float            # NB2 dispersion
    phi: float              # extra Pearson dispersion (>= 1)
    rho: np.ndarray         # residual autocorrelation at lags 1..K
    price_coef: tuple[float, float] | None  # regular-price elasticity and its se, where the price changed
    n_clean: int


def _calendar_design(dates: pd.DatetimeIndex, freq: str, countries: Sequence[str]) -> pd.DataFrame:
    """Calendar inputs on the global date grid: weekday, yearly harmonics, events and holidays."""
    parts: dict[str, np.ndarray] = {}
    if freq == schema.DAILY:
        weekday = dates.day_of_week.to_numpy()
        for day in range(1, 7):
            parts[f"weekday_{day}"] = (weekday == day).astype(float)
    day_of_year = dates.day_of_year.to_numpy()
    for k in (1, 2, 3):
        angle = 2 * np.pi * k * day_of_year / 365.25
        parts[f"year_sin{k}"] = np.sin(angle)
        parts[f"year_cos{k}"] = np.cos(angle)
    events = event_features(dates, freq if freq in (schema.DAILY, schema.WEEKLY, schema.MONTHLY) else schema.DAILY,
                            countries)
    for column in events.columns:
        if column.startswith(("ev_", "holiday_")):
            parts[column] = events[column].to_numpy(dtype=float)
    return pd.DataFrame(parts, index=dates)


def _irls(X: np.ndarray, y: np.ndarray, penalty: np.ndarray, alpha: float, beta: np.ndarray | None,
          iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Penalised negative-binomial (NB2, fixed ``alpha``) regression with a log link by IRLS."""
    if beta is None:
        beta = np.zeros(X.shape[1])
        beta[0] = np.log(max(y.mean(), 1e-3))
    for _ in range(iterations):
        eta = np.clip(X @ beta, -20, 20)
        mu = np.exp(eta)
        weight = mu / (1 + alpha * mu)
        z = eta + (y - mu) / mu
        hessian = (X * weight[:, None]).T @ X + np.diag(penalty)
        new = np.linalg.solve(hessian, (X * weight[:, None]).T @ z)
        if np.max(np.abs(new - beta)) < 1e-7:
            beta = new
            break
        beta = new
    eta = np.clip(X @ beta, -20, 20)
    mu = np.exp(eta)
    weight = mu / (1 + alpha * mu)
    hessian = (X * weight[:, None]).T @ X + np.diag(penalty)
    return beta, hessian


def censored_mean(sold: np.ndarray, mu: np.ndarray, alpha: float) -> np.ndarray:
    """E[Y | Y >= sold] for negative-binomial demand (mean ``mu``, NB2 dispersion ``alpha``): the expected demand
    of a period whose sales were cut by a stock-out. Uses ``k p(k; n, p) = mu p(k - 1; n + 1, p)``."""
    from scipy.stats import nbinom, poisson

    sold = np.floor(np.maximum(sold, 0))
    mu = np.maximum(mu, 1e-9)
    if alpha <= 1e-8:
        upper, tail = poisson.sf(sold - 2, mu), poisson.sf(sold - 1, mu)
    else:
        size = 1 / alpha
        prob = size / (size + mu)
        upper, tail = nbinom.sf(sold - 2, size + 1, prob), nbinom.sf(sold - 1, size, prob)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(tail > 1e-12, mu * upper / tail, np.maximum(sold, mu))
    return np.maximum(expected, sold)


def _fit_baseline(y: np.ndarray, clean: np.ndarray, censored: np.ndarray, X: np.ndarray, penalty: np.ndarray,
                  max_lag: int, price_column: int | None) -> _Fit:
    """Fit on the clean periods; stock-out periods that are otherwise clean join as censored observations
    (EM: their demand is replaced by its expectation given that it was at least the units sold)."""
    keep = np.ones(X.shape[1], dtype=bool)
    keep[1:] = np.abs(X[clean][:, 1:]).sum(axis=0) > 0  # a column never active on clean periods cannot be learned
    Xk = X[:, keep]
    pen = penalty[keep]
    Xc, yc = Xk[clean], y[clean]
    beta, _ = _irls(Xc, yc, pen, 0.0, None, iterations=12)
    mu_c = np.exp(np.clip(Xc @ beta, -20, 20))
    alpha = float(max(0.0, ((yc - mu_c) ** 2 - mu_c).sum() / max((mu_c ** 2).sum(), 1e-9)))
    used = clean | censored
    Xu = Xk[used]
    cut = censored[used]
    for _ in range(3):
        mu_u = np.exp(np.clip(Xu @ beta, -20, 20))
        yu = y[used].copy()
        if cut.any():
            yu[cut] = censored_mean(yu[cut], mu_u[cut], alpha)
        beta, hessian = _irls(Xu, yu, pen, alpha, beta)
        mu_u = np.exp(np.clip(Xu @ beta, -20, 20))
        plain = ~cut
        alpha = float(max(0.0, ((yu[plain] - mu_u[plain]) ** 2 - mu_u[plain]).sum()
                          / max((mu_u[plain] ** 2).sum(), 1e-9)))
    mu_c = np.exp(np.clip(Xc @ beta, -20, 20))
    variance = mu_c + alpha * mu_c ** 2
    pearson = (yc - mu_c) / np.sqrt(np.maximum(variance, 1e-12))
    dof = max(len(yc) - Xc.shape[1], 1)
    phi = float(max(1.0, (pearson ** 2).sum() / dof))
    cov = phi * np.linalg.pinv(hessian)
    eta = np.clip(Xk @ beta, -20, 20)
    model_var_log = np.einsum("ij,jk,ik->i", Xk, cov, Xk)
    rho = _autocorrelation(pearson, np.flatnonzero(clean), max_lag)
    price_coef = None
    if price_column is not None and keep[price_column]:
        position = int(keep[:price_column].sum())
        price_coef = (float(beta[position]), float(np.sqrt(max(cov[position, position], 0.0))))
    return _Fit(np.exp(eta), model_var_log, cov, Xk, alpha, phi, rho, price_coef, int(clean.sum()))


def _autocorrelation(residual: np.ndarray, positions: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation of residuals observed at ``positions`` (gaps allowed), lags 1..max_lag."""
    full = np.full(positions.max() + 1 if len(positions) else 1, np.nan)
    full[positions] = residual
    total = np.nansum(full ** 2)
    rho = np.zeros(max_lag)
    if total <= 0:
        return rho
    n = len(positions)
    for lag in range(1, max_lag + 1):
        if lag >= len(full):
            break
        product = full[lag:] * full[:-lag]
        pairs = np.isfinite(product)
        if pairs.sum() < 20:
            break
        rho[lag - 1] = np.nansum(product) / total * n / pairs.sum()
    return np.clip(rho, -0.5, 0.95)


def _inflation(rho: np.ndarray, n: int) -> float:
    """Variance factor of a sum of ``n`` consecutive periods with residual autocorrelation ``rho``."""
    if n <= 1:
        return 1.0
    lags = np.arange(1, min(n, len(rho) + 1))
    factor = 1 + 2 * np.sum((1 - lags / n) * rho[lags - 1])
    return float(np.clip(factor, 1.0, n))


def _trend_basis(days: np.ndarray, knot_days: int) -> np.ndarray:
    """A linear trend in years plus hinges at every ``knot_days`` inside the series' span."""
    span = days.max() - days.min()
    t = (days - days.min()) / 365.25
    columns = [t]
    n_knots = int(span // knot_days)
    for k in range(1, n_knots + 1):
        knot = k * knot_days / 365.25
        if knot < t.max() - 0.5 * knot_days / 365.25:
            columns.append(np.maximum(t - knot, 0.0))
    return np.column_stack(columns)


# --- the analysis -------------------------------------------------------------------------------------------------

@dataclass
class _Window:
    kind: str            # "episode", "after", "placebo" or "sibling"
    key: int             # episode index (real or placebo)
    positions: np.ndarray  # positions in the series' rows
    valid: np.ndarray    # boolean over positions: counted in the ratio


def analyse_promotions(frame: pd.DataFrame, freq: str = schema.DAILY, settings: PromotionSettings | None = None,
                       progress: Progress | None = None) -> PromotionAnalysis:
    """Estimate the causal effect of every promotion episode in ``frame`` (the clean long frame).

    Raises :class:`PromotionError` when the data hold no promotions or nothing to compare them with.
    """
    settings = settings or PromotionSettings()
    report = progress or (lambda _fraction, _message: None)
    data = _sorted_frame(frame)
    marks = promotion_marks(data, settings)
    episodes = _episodes_from(data, marks, freq)
    if episodes.empty:
        how = ("the promo column is 0 everywhere and no price falls "
               f"{settings.price_cut:.0%} or more below its regular price" if schema.PROMO in data.columns
               else f"no price falls {settings.price_cut:.0%} or more below its regular price")
        raise PromotionError(f"No promotion episodes found: {how}. Map the column that marks promotions.")
    groups = _group_columns(data)
    post = settings.post_for(freq)
    rng = np.random.default_rng(settings.seed)

    ids = data[schema.UNIQUE_ID].to_numpy()
    series_ids, first_rows = np.unique(ids, return_index=True)
    order = np.argsort(first_rows)
    series_ids, first_rows = series_ids[order], first_rows[order]
    bounds = np.r_[first_rows, len(data)]
    y_all = data[schema.Y].to_numpy(dtype=float)
    censored = (data[schema.STOCKOUT].fillna(0).to_numpy() > 0) if schema.STOCKOUT in data.columns \
        else np.zeros(len(data), dtype=bool)
    filled = (data[schema.FILLED].fillna(0).to_numpy() > 0) if schema.FILLED in data.columns \
        else np.zeros(len(data), dtype=bool)
    observed = np.isfinite(y_all) & ~filled
    on_promo = marks["on_promo"].to_numpy()
    regular_price = marks["regular_price"].to_numpy(dtype=float)

    dates = pd.DatetimeIndex(np.unique(data[schema.DS].to_numpy()))
    date_pos = dates.get_indexer(data[schema.DS])
    calendar = _calendar_design(dates, freq, settings.countries)
    day_numbers = (dates.values.astype("datetime64[D]").astype(np.int64)).astype(float)

    # episode membership per row: own promotion and the window after it
    episode_rows = _episode_rows(data, episodes)
    own_episode = np.full(len(data), -1)
    for index, rows in enumerate(episode_rows):
        own_episode[rows] = index
    after_rows = [_after_rows(rows, own_episode, bounds, post) for rows in episode_rows]
    after_episode = np.full(len(data), -1)
    for index, rows in enumerate(after_rows):
        after_episode[rows] = index

    # siblings: same category, channel and location; another SKU
    cell_columns = [c for c in (schema.CATEGORY, schema.CHANNEL, schema.LOCATION) if c in groups]
    has_category = schema.CATEGORY in groups
    cell = (data[cell_columns].astype(str).agg(" / ".join, axis=1).to_numpy() if has_category
            else np.full(len(data), ""))
    series_cell = cell[first_rows]
    sibling_promo = np.zeros(len(data), dtype=bool)
    if has_category:
        promo_by_cell_date: dict[str, np.ndarray] = {}
        for rows in episode_rows:
            key = cell[rows[0]]
            promo_by_cell_date.setdefault(key, np.zeros(len(dates), dtype=int))
            np.add.at(promo_by_cell_date[key], date_pos[rows], 1)
        counts = np.zeros(len(data), dtype=int)
        for key, per_date in promo_by_cell_date.items():
            rows = np.flatnonzero(cell == key)
            counts[rows] = per_date[date_pos[rows]]
        sibling_promo = (counts - (own_episode >= 0).astype(int)) > 0

    other = _other_interventions(data, settings.exclude, bounds, post)
    ordinary = observed & (own_episode < 0) & (after_episode < 0) & ~sibling_promo & ~on_promo & ~other
    clean = ordinary & ~censored

    # placebo episodes on clean stretches
    lengths = episodes["periods"].to_numpy()
    depths_known = episodes["depth"].dropna().to_numpy()
    placebo = _place_placebos(series_ids, bounds, clean, lengths, post, settings.placebo_per_series, rng)
    placebo_rows = [rows for _, rows in placebo]
    placebo_mark = np.zeros(len(data), dtype=bool)
    for rows in placebo_rows:
        lo, hi = rows[0], rows[-1] + post + 1
        placebo_mark[lo: min(hi, bounds[np.searchsorted(bounds, rows[0], side="right")])] = True
    fit_mask = clean & ~placebo_mark
    censored_fit = ordinary & censored & ~placebo_mark

    missing = [c for c in (*settings.covariates, *settings.exclude) if c not in data.columns]
    if missing:
        raise PromotionError(f"Covariate column(s) {missing} are not in the data; the columns are "
                             f"{', '.join(map(str, data.columns))}.")
    extra = (data[list(settings.covariates)].apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy(dtype=float)
             if settings.covariates else np.zeros((len(data), 0)))
    control_log = _control_index(data, groups, y_all, observed & ~censored & (own_episode < 0) & (after_episode < 0),
                                 date_pos, len(dates)) if settings.controls else None

    # windows per series
    windows: dict[int, list[_Window]] = {s: [] for s in range(len(series_ids))}
    series_of_row = np.repeat(np.arange(len(series_ids)), np.diff(bounds))
    for index, rows in enumerate(episode_rows):
        s = series_of_row[rows[0]]
        windows[s].append(_Window("episode", index, rows, observed[rows]))
        after = after_rows[index]
        if len(after):
            windows[s].append(_Window("after", index, after, observed[after]))
    for index, (s, rows) in enumerate(placebo):
        windows[s].append(_Window("placebo", index, rows, observed[rows]))
    sibling_lists: list[list[int]] = [[] for _ in range(len(episodes))]
    if has_category:
        members_by_cell: dict[str, list[int]] = {}
        for s, key in enumerate(series_cell):
            members_by_cell.setdefault(key, []).append(s)
        sku_of_series = (data[schema.SKU].to_numpy()[first_rows] if schema.SKU in groups else series_ids)
        for index, rows in enumerate(episode_rows):
            s = series_of_row[rows[0]]
            promo_dates = date_pos[rows]
            for sib in members_by_cell[series_cell[s]]:
                if sib == s or sku_of_series[sib] == sku_of_series[s]:
                    continue
                lo, hi = bounds[sib], bounds[sib + 1]
                sib_positions = lo + np.searchsorted(date_pos[lo:hi], promo_dates)
                inside = (sib_positions < hi)
                sib_positions = sib_positions[inside]
                sib_positions = sib_positions[date_pos[sib_positions] == promo_dates[inside]]
                if not len(sib_positions):
                    continue
                valid = (observed[sib_positions] & (own_episode[sib_positions] < 0)
                         & (after_episode[sib_positions] < 0))
                if valid.any():
                    windows[sib].append(_Window("sibling", index, sib_positions, valid))
                    sibling_lists[index].append(sib)

    # fit every series, collect window statistics
    max_lag = int(min(max(lengths.max(), post, 1), 28))
    calendar_values = calendar.to_numpy()
    yearly_columns = calendar.columns.str.startswith("year_")
    stats: dict[tuple[str, int], list[dict]] = {}
    mu_all = np.full(len(data), np.nan)
    noise_var = np.full(len(data), np.nan)
    model_sd = np.full(len(data), np.nan)
    price_coefs: list[tuple[int, float, float]] = []
    thin_series: list[str] = []
    skipped: list[str] = []
    for s in range(len(series_ids)):
        report(0.05 + 0.8 * s / len(series_ids), f"Fitting baselines: series {s + 1:,} of {len(series_ids):,}")
        lo, hi = bounds[s], bounds[s + 1]
        mask = fit_mask[lo:hi]
        if mask.sum() < _MIN_CLEAN or y_all[lo:hi][mask].sum() <= 0:
            skipped.append(str(series_ids[s]))
            continue
        if mask.sum() < _SHORT_HISTORY:
            thin_series.append(str(series_ids[s]))
        positions = date_pos[lo:hi]
        X, penalty, price_column = _series_design(
            calendar_values, yearly_columns, positions, day_numbers, regular_price[lo:hi],
            None if control_log is None else control_log[lo:hi], extra[lo:hi], settings.trend_knot_days)
        y = np.nan_to_num(y_all[lo:hi])
        fit = _fit_baseline(y, mask, censored_fit[lo:hi], X, penalty, max_lag, price_column)
        mu_all[lo:hi] = fit.mu
        noise_var[lo:hi] = fit.phi * (fit.mu + fit.alpha * fit.mu ** 2)
        model_sd[lo:hi] = fit.mu * np.sqrt(fit.model_var_log)
        if fit.price_coef is not None:
            price_coefs.append((s, *fit.price_coef))
        for window in windows[s]:
            stats.setdefault((window.kind, window.key), []).append(
                _window_stats(window, y, censored[lo:hi], fit, lo))
    report(0.9, "Pooling episodes")
    calibration = _placebo_calibration([stats.get(("placebo", i), [None])[0] for i in range(len(placebo))])
    for values in stats.values():
        for stat in values:
            for key in ("s1", "s2", "vc"):
                stat[key] *= calibration

    z = settings.z
    episode_table = _episode_table(episodes, stats, sibling_lists, groups, episode_rows, censored, z,
                                   settings.min_group_episodes)
    placebo_table, placebo_rates = _placebo_table(placebo, stats, data, series_ids, depths_known, groups, z,
                                                  settings.min_group_episodes, rng)
    summary = _summary(episode_table, groups, z)
    elasticity = _elasticity(episode_table, price_coefs, data, first_rows, groups, z)
    phase = np.full(len(data), "", dtype=object)
    phase[sibling_promo & (own_episode < 0)] = SIBLING
    phase[after_episode >= 0] = AFTER
    phase[own_episode >= 0] = PROMOTION
    episode_of_row = np.where(own_episode >= 0, own_episode, after_episode)
    episode_names = episodes[EPISODE_ID].to_numpy()
    baseline = pd.DataFrame({
        schema.UNIQUE_ID: ids, schema.DS: data[schema.DS].to_numpy(), schema.Y: y_all,
        "counterfactual": mu_all,
        "counterfactual_lo": np.maximum(mu_all - z * np.sqrt(noise_var + model_sd ** 2), 0.0),
        "counterfactual_hi": mu_all + z * np.sqrt(noise_var + model_sd ** 2),
        "noise_var": noise_var, "model_sd": model_sd, "in_fit": fit_mask, "stockout": censored, PHASE: phase,
        EPISODE_ID: np.where(episode_of_row >= 0, episode_names[np.maximum(episode_of_row, 0)], ""),
    })
    caveats = _caveats(episode_table, data, on_promo, date_pos, len(dates), thin_series, skipped, control_log,
                       has_category, freq)
    if marks.attrs.get("source") == PRICE_CUTS:
        caveats.insert(0, f"Promotions were found from price cuts: a price {settings.price_cut:.0%} or more below "
                          "the series' regular price (its 8-week median) counts, since no promo column marks any.")
    model = dict(episode_table.attrs.pop("model", {}))
    episode_table.attrs.clear()
    model["promotions_from"] = marks.attrs.get("source", PROMO_COLUMN)
    model["noise_calibration"] = calibration
    report(1.0, "Done")
    return PromotionAnalysis(episode_table, summary, elasticity, placebo_table, placebo_rates, baseline, model,
                             caveats, freq, settings)


def _episode_rows(data: pd.DataFrame, episodes: pd.DataFrame) -> list[np.ndarray]:
    """Row positions of every episode in the sorted frame."""
    ids = data[schema.UNIQUE_ID].to_numpy()
    ds = data[schema.DS].to_numpy()
    rows = []
    first = pd.Series(np.arange(len(data))).groupby(ids, sort=False).min()
    last = pd.Series(np.arange(len(data))).groupby(ids, sort=False).max()
    for uid, start, end in zip(episodes[schema.UNIQUE_ID], episodes["start"], episodes["end"]):
        lo, hi = int(first[uid]), int(last[uid]) + 1
        a = lo + np.searchsorted(ds[lo:hi], np.datetime64(start))
        b = lo + np.searchsorted(ds[lo:hi], np.datetime64(end), side="right")
        rows.append(np.arange(a, b))
    return rows


def _after_rows(rows: np.ndarray, own_episode: np.ndarray, bounds: np.ndarray, post: int) -> np.ndarray:
    """The ``post`` periods after an episode, stopping at the next episode or the end of the series."""
    if post <= 0:
        return np.array([], dtype=int)
    series_end = bounds[np.searchsorted(bounds, rows[-1], side="right")]
    after = np.arange(rows[-1] + 1, min(rows[-1] + 1 + post, series_end))
    stop = np.flatnonzero(own_episode[after] >= 0)
    return after[: stop[0]] if len(stop) else after


def _other_interventions(data: pd.DataFrame, columns: Sequence[str], bounds: np.ndarray, post: int) -> np.ndarray:
    """Rows marked by any of ``columns`` (value > 0), and the ``post`` rows after each, within each series."""
    marked = np.zeros(len(data), dtype=bool)
    for column in columns:
        marked |= pd.to_numeric(data[column], errors="coerce").fillna(0).to_numpy() > 0
    if not marked.any():
        return marked
    series = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    spread = marked.copy()
    for lag in range(1, min(post, len(data) - 1) + 1):
        same_series = np.r_[np.full(lag, -1), series[:-lag]] == series
        spread |= np.r_[np.zeros(lag, dtype=bool), marked[:-lag]] & same_series
    return spread


def _place_placebos(series_ids: np.ndarray, bounds: np.ndarray, clean: np.ndarray, lengths: np.ndarray, post: int,
                    per_series: int, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """Fake episodes (series index, rows) on stretches that are clean, with clean periods around them."""
    placed = []
    for s in range(len(series_ids)):
        lo, hi = bounds[s], bounds[s + 1]
        ok = clean[lo:hi]
        taken = np.zeros(hi - lo, dtype=bool)
        for _ in range(per_series):
            length = int(rng.choice(lengths))
            need = length + post
            margin = 3
            candidates = [start for start in range(margin, hi - lo - need - margin)
                          if ok[start - margin: start + need + margin].all()
                          and not taken[start - margin: start + need + margin].any()]
            if not candidates:
                break
            start = int(rng.choice(candidates))
            taken[start: start + need] = True
            placed.append((s, np.arange(lo + start, lo + start + length)))
    return placed


def _control_index(data: pd.DataFrame, groups: list[str], y: np.ndarray, usable: np.ndarray, date_pos: np.ndarray,
                   n_dates: int) -> np.ndarray | None:
    """log of the mean normalised sales of comparable series (same category, other channel or location),
    per row; 0 where none were usable that day. ``None`` when the data have no such comparison."""
    place_columns = [c for c in (schema.CHANNEL, schema.LOCATION) if c in groups]
    if not place_columns:
        return None
    category = data[schema.CATEGORY].astype(str).to_numpy() if schema.CATEGORY in groups \
        else np.full(len(data), "")
    place = data[place_columns].astype(str).agg(" / ".join, axis=1).to_numpy()
    ids = data[schema.UNIQUE_ID].to_numpy()
    values = np.where(usable, y, np.nan)
    scale = pd.Series(values).groupby(ids, sort=False).transform("mean").to_numpy()
    ratio = np.where(np.isfinite(values) & (scale > 0), values / np.where(scale > 0, scale, 1), np.nan)
    out = np.zeros(len(data))
    for cat in np.unique(category):
        in_cat = category == cat
        places = np.unique(place[in_cat])
        if len(places) < 2:
            continue
        sums = {}
        counts = {}
        for p in places:
            rows = np.flatnonzero(in_cat & (place == p))
            finite = np.isfinite(ratio[rows])
            sums[p] = np.bincount(date_pos[rows][finite], weights=ratio[rows][finite], minlength=n_dates)
            counts[p] = np.bincount(date_pos[rows][finite], minlength=n_dates)
        total_sum = sum(sums.values())
        total_count = sum(counts.values())
        for p in places:
            rows = np.flatnonzero(in_cat & (place == p))
            other_sum = (total_sum - sums[p])[date_pos[rows]]
            other_count = (total_count - counts[p])[date_pos[rows]]
            with np.errstate(invalid="ignore", divide="ignore"):
                index = np.where(other_count >= 2, other_sum / np.maximum(other_count, 1), np.nan)
            out[rows] = np.where(np.isfinite(index), np.log(np.clip(index, 0.05, 20)), 0.0)
    return out if np.any(out != 0) else None


def _series_design(calendar: np.ndarray, yearly_columns: np.ndarray, positions: np.ndarray, day_numbers: np.ndarray,
                   regular_price: np.ndarray,
                   control: np.ndarray | None, extra: np.ndarray,
                   knot_days: int) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Design matrix of one series (intercept first) and the ridge penalty of each column."""
    days = day_numbers[positions]
    span_years = (days.max() - days.min()) / 365.25
    calendar = calendar[positions]
    if span_years < 1.0:  # yearly harmonics need a year to tell season from trend
        calendar = calendar[:, ~yearly_columns]
    trend = _trend_basis(days, knot_days)
    columns = [np.ones(len(days)), trend, calendar]
    penalties = [np.zeros(1), np.r_[0.0, np.full(trend.shape[1] - 1, 2.0)], np.full(calendar.shape[1], 0.5)]
    price_column = None
    log_price = np.log(regular_price) if np.all(np.isfinite(regular_price)) and np.all(regular_price > 0) else None
    if log_price is not None and np.ptp(log_price) > 0.01:
        price_column = 1 + trend.shape[1] + calendar.shape[1]
        columns.append((log_price - np.median(log_price))[:, None])
        penalties.append(np.array([0.01]))
    if control is not None and np.any(control != 0):
        columns.append(control[:, None])
        penalties.append(np.array([1.0]))
    for values in extra.T:
        if np.ptp(values) > 0:
            columns.append(((values - values.mean()) / values.std())[:, None])
            penalties.append(np.array([0.5]))
    return np.column_stack(columns), np.concatenate(penalties), price_column


def _window_stats(window: _Window, y: np.ndarray, censored: np.ndarray, fit: _Fit, offset: int) -> dict:
    """Sums that the ratio estimates need: actual and counterfactual on valid, uncensored periods, the
    counterfactual on all periods, the two noise terms and the model variance of the valid counterfactual.

    Stock-out periods inside a window are left out of the ratio rather than imputed: imputing them from the
    window's own ratio added more noise than the selection it removes (checked on the demo shop)."""
    local = window.positions - offset
    valid = local[window.valid & ~censored[local]]
    mu = fit.mu[valid]
    inflation = _inflation(fit.rho, len(valid))
    gradient = (fit.X[valid] * mu[:, None]).sum(axis=0)
    return {
        "n_valid": len(valid),
        "actual": float(y[valid].sum()),
        "actual_all": float(y[local].sum()),
        "cf_valid": float(mu.sum()),
        "cf_all": float(fit.mu[local].sum()),
        "s1": float(fit.phi * inflation * mu.sum()),
        "s2": float(fit.phi * inflation * fit.alpha * (mu ** 2).sum()),
        "vc": float(gradient @ fit.cov @ gradient),
    }


def _ratio(stat: dict) -> tuple[float, float]:
    """Raw ratio actual / counterfactual on valid periods and its variance at that ratio."""
    cf = stat["cf_valid"]
    if stat["n_valid"] == 0 or cf <= 0:
        return np.nan, np.nan
    r = stat["actual"] / cf
    r_var = max(r, 0.5 / cf)
    variance = (r_var * stat["s1"] + r_var ** 2 * stat["s2"] + r_var ** 2 * stat["vc"]) / cf ** 2
    return r, variance


def _placebo_calibration(placebo_stats: list[dict | None]) -> float:
    """How much wider the raw noise really is than modelled: the robust variance of placebo z-scores (median of
    z² over the median of a chi-square with one degree of freedom), at least 1. Needs 20 placebo episodes."""
    z2 = []
    for stat in placebo_stats:
        if stat is None or stat["n_valid"] == 0 or stat["cf_valid"] <= 0:
            continue
        variance = (stat["s1"] + stat["s2"] + stat["vc"]) / stat["cf_valid"] ** 2
        z2.append((stat["actual"] / stat["cf_valid"] - 1) ** 2 / variance)
    if len(z2) < 20:
        return 1.0
    return float(np.clip(np.median(z2) / 0.4549, 1.0, 10.0))


def _sum_effect(stats: list[dict], z: float) -> tuple[float, float, float]:
    """Actual minus counterfactual summed over windows (scaled from valid to all periods), with an interval."""
    total, variance = 0.0, 0.0
    for stat in stats:
        r, v = _ratio(stat)
        if not np.isfinite(r):
            continue
        total += stat["cf_all"] * (r - 1)
        variance += stat["cf_all"] ** 2 * v
    if not stats or variance == 0 and total == 0:
        return np.nan, np.nan, np.nan
    half = z * np.sqrt(variance)
    return total, total - half, total + half


# --- pooling ------------------------------------------------------------------------------------------------------

def _design_terms(table: pd.DataFrame, groups: list[str], min_group: int) -> tuple[np.ndarray, list[str]]:
    """Covariates of the pooled model per episode: an intercept and constant-elasticity depth slope per
    category (small categories share one), and channel shifts."""
    n = len(table)
    depth = table["depth"].astype(float)
    has_depth = depth.notna().mean() >= 0.5 and depth.dropna().nunique() >= 2
    depth_x = -np.log(1 - depth.fillna(depth.median() if depth.notna().any() else 0).clip(0, 0.95)).to_numpy()
    category = (table[schema.CATEGORY].astype(str) if schema.CATEGORY in groups
                else pd.Series("all", index=table.index))
    series = table[schema.UNIQUE_ID].astype(str)

    def big_enough(labels: pd.Series) -> list[str]:
        """Levels with ``min_group`` episodes from at least ``_MIN_CLUSTERS`` series: clustered errors need them."""
        counts = labels.value_counts()
        clusters = series.groupby(labels).nunique()
        return sorted(c for c in counts.index if counts[c] >= min_group and clusters[c] >= _MIN_CLUSTERS)

    big = big_enough(category)
    label = category.where(category.isin(big), OTHER_GROUP).to_numpy()
    levels = sorted(set(label))
    columns, names = [], []
    for level in levels:
        member = (label == level).astype(float)
        columns.append(member)
        names.append(f"intercept[{level}]")
        if has_depth and pd.Series(depth_x[label == level]).round(3).nunique() >= 2:
            columns.append(member * depth_x)
            names.append(f"elasticity[{level}]")
    if has_depth and not any(n_.startswith("elasticity") for n_ in names):
        columns.append(depth_x)
        names.append("elasticity[all]")
    if schema.CHANNEL in groups:
        channel = table[schema.CHANNEL].astype(str)
        kept = big_enough(channel)
        if len(kept) >= 2:
            for level in kept[1:]:
                columns.append((channel == level).to_numpy(dtype=float))
                names.append(f"channel[{level}]")
    X = np.column_stack(columns) if columns else np.ones((n, 1))
    return X, names


@dataclass
class _Pooled:
    gamma: np.ndarray
    cov: np.ndarray
    tau2: float
    names: list[str]
    X: np.ndarray


def _pool(ratio_stats: list[dict], X: np.ndarray, clusters: np.ndarray, names: list[str]) -> _Pooled:
    """Ratios ``actual / counterfactual`` regressed on ``X`` with a log link: iteratively weighted least
    squares with the negative-binomial variance at the fitted ratio plus a heterogeneity ``tau²`` (Paule–Mandel),
    standard errors clustered by series."""
    cf = np.array([s["cf_valid"] for s in ratio_stats])
    r = np.array([s["actual"] for s in ratio_stats]) / cf
    s1 = np.array([s["s1"] for s in ratio_stats])
    s2 = np.array([s["s2"] for s in ratio_stats])
    vc = np.array([s["vc"] for s in ratio_stats])
    p = X.shape[1]
    k = len(r)

    def variance(pred: np.ndarray, tau2: float) -> np.ndarray:
        return (pred * s1 + pred ** 2 * (s2 + vc)) / cf ** 2 + tau2 * pred ** 2

    def solve(tau2: float, gamma: np.ndarray) -> np.ndarray:
        for _ in range(50):
            pred = np.exp(np.clip(X @ gamma, -10, 10))
            w = 1 / variance(pred, tau2)
            J = X * pred[:, None]
            step = np.linalg.lstsq((J * w[:, None]).T @ J + 1e-9 * np.eye(p), (J * w[:, None]).T @ (r - pred),
                                   rcond=None)[0]
            gamma = gamma + step
            if np.max(np.abs(step)) < 1e-8:
                break
        return gamma

    gamma = np.zeros(p)
    tau2 = 0.0
    for _ in range(6):
        gamma = solve(tau2, gamma)
        pred = np.exp(np.clip(X @ gamma, -10, 10))

        def q(t: float, pred: np.ndarray = pred) -> float:
            """A robust Paule-Mandel equation: the median standardised square at its expectation."""
            return float(np.median((r - pred) ** 2 / variance(pred, t))) - 0.4549 * k / max(k - p, 1)

        if q(0.0) <= 0:
            new = 0.0
        else:
            lo, hi = 0.0, 1.0
            while q(hi) > 0 and hi < 100:
                hi *= 4
            for _ in range(60):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if q(mid) > 0 else (lo, mid)
            new = (lo + hi) / 2
        if abs(new - tau2) < 1e-6:
            tau2 = new
            break
        tau2 = new
    gamma = solve(tau2, gamma)
    pred = np.exp(np.clip(X @ gamma, -10, 10))
    w = 1 / variance(pred, tau2)
    J = X * pred[:, None]
    bread = np.linalg.pinv((J * w[:, None]).T @ J)
    score = J * (w * (r - pred))[:, None]
    unique = np.unique(clusters)
    meat = np.zeros((p, p))
    for c in unique:
        g = score[clusters == c].sum(axis=0)
        meat += np.outer(g, g)
    g_count = len(unique)
    correction = g_count / max(g_count - 1, 1) * (k - 1) / max(k - p, 1)
    cov = correction * bread @ meat @ bread
    # few clusters: widen to Student-t critical values with G - p degrees of freedom, and never report less
    # uncertainty than the variance model itself implies
    from scipy.stats import norm, t
    widen = (t.ppf(0.975, max(g_count - p, 1)) / norm.ppf(0.975)) ** 2
    cov = widen * np.where(np.eye(p, dtype=bool), np.maximum(np.diag(cov), np.diag(bread)), cov)
    return _Pooled(gamma, cov, tau2, names, X)


def _posterior(pooled: _Pooled, ratio_stats: list[dict], z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empirical-Bayes ratio per episode (own ratio and pooled prediction, weighted by their variances)."""
    cf = np.array([s["cf_valid"] for s in ratio_stats])
    r = np.array([s["actual"] for s in ratio_stats]) / cf
    pred = np.exp(np.clip(pooled.X @ pooled.gamma, -10, 10))
    s1 = np.array([s["s1"] for s in ratio_stats])
    s2 = np.array([s["s2"] for s in ratio_stats])
    vc = np.array([s["vc"] for s in ratio_stats])
    own_var = (pred * s1 + pred ** 2 * (s2 + vc)) / cf ** 2
    prior_var = pooled.tau2 * pred ** 2
    gradient = pooled.X * pred[:, None]
    pred_var = np.einsum("ij,jk,ik->i", gradient, pooled.cov, gradient)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(prior_var > 0, prior_var / (prior_var + own_var), 0.0)
    mean = weight * r + (1 - weight) * pred
    var = weight * own_var + (1 - weight) ** 2 * pred_var
    half = z * np.sqrt(var)
    return mean, mean - half, mean + half


def _pooled_estimates(stats_list: list[dict | None], table: pd.DataFrame, groups: list[str], z: float,
                      min_group: int, clusters: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """Ratio columns (raw and empirical-Bayes) for the episodes whose ratio can be computed."""
    usable = np.array([s is not None and s["n_valid"] > 0 and s["cf_valid"] > 0 for s in stats_list])
    out = pd.DataFrame(index=table.index, columns=["ratio", "ratio_lo", "ratio_hi", "raw", "raw_lo", "raw_hi",
                                                   "pred"], dtype=float)
    model: dict = {}
    if usable.sum() == 0:
        return out, model
    rows = np.flatnonzero(usable)
    kept = [stats_list[i] for i in rows]
    X, names = _design_terms(table.iloc[rows], groups, min_group)
    if len(rows) <= X.shape[1]:
        X, names = np.ones((len(rows), 1)), ["intercept[all]"]
    pooled = _pool(kept, X, clusters[rows], names)
    mean, lo, hi = _posterior(pooled, kept, z)
    raw = np.array([_ratio(s)[0] for s in kept])
    raw_sd = np.sqrt(np.array([_ratio(s)[1] for s in kept]))
    out.iloc[rows, :] = np.column_stack([mean, lo, hi, raw, raw - z * raw_sd, raw + z * raw_sd,
                                         np.exp(X @ pooled.gamma)])
    model = {"terms": names, "coefficients": pooled.gamma.tolist(),
             "std_errors": np.sqrt(np.diag(pooled.cov)).tolist(), "tau": float(np.sqrt(pooled.tau2)),
             "episodes": int(len(rows)), "clusters": int(len(np.unique(clusters[rows]))),
             "_pooled": pooled, "_rows": rows}
    return out, model


def _episode_table(episodes: pd.DataFrame, stats: dict, sibling_lists: list[list[int]], groups: list[str],
                   episode_rows: list[np.ndarray], censored: np.ndarray, z: float, min_group: int) -> pd.DataFrame:
    table = episodes.copy()
    main = [stats.get(("episode", i), [None])[0] for i in range(len(table))]
    clusters = table[schema.UNIQUE_ID].astype(str).to_numpy()
    ratios, model = _pooled_estimates(main, table, groups, z, min_group, clusters)
    cf_all = np.array([s["cf_all"] if s else np.nan for s in main])
    actual = np.array([s["actual_all"] if s else np.nan for s in main])
    table["actual_units"] = actual
    table["baseline_units"] = cf_all
    table["incremental_units"] = cf_all * (ratios["ratio"].to_numpy() - 1)
    table["incremental_lo"] = cf_all * (ratios["ratio_lo"].to_numpy() - 1)
    table["incremental_hi"] = cf_all * (ratios["ratio_hi"].to_numpy() - 1)
    for name, column in (("uplift_pct", "ratio"), ("uplift_lo", "ratio_lo"), ("uplift_hi", "ratio_hi"),
                         ("raw_uplift_pct", "raw"), ("raw_uplift_lo", "raw_lo"), ("raw_uplift_hi", "raw_hi")):
        table[name] = 100 * (ratios[column].to_numpy(dtype=float) - 1)
    for name in ("uplift_lo", "raw_uplift_lo"):
        table[name] = table[name].clip(lower=-100)
    table["incremental_lo"] = np.maximum(table["incremental_lo"], -cf_all)
    after = [_sum_effect(stats.get(("after", i), []), z) for i in range(len(table))]
    table["after_effect_units"], table["after_effect_lo"], table["after_effect_hi"] = map(np.array, zip(*after))
    sibling = [_sum_effect(stats.get(("sibling", i), []), z) for i in range(len(table))]
    table["sibling_effect_units"], table["sibling_effect_lo"], table["sibling_effect_hi"] = map(np.array,
                                                                                                zip(*sibling))
    table["net_incremental_units"] = (table["incremental_units"] + table["after_effect_units"].fillna(0)
                                      + table["sibling_effect_units"].fillna(0))
    table["stockout_periods"] = [int(censored[rows].sum()) for rows in episode_rows]
    table["siblings"] = [len(s) for s in sibling_lists]
    table["significant"] = (table["uplift_lo"] > 0) | (table["uplift_hi"] < 0)
    table.attrs["model"] = model
    ordered = [c for c in EPISODE_COLUMNS if c in table.columns]
    extra = [c for c in (*groups, "promo_price") if c in table.columns and c not in ordered]
    columns = ordered[:2] + extra + ordered[2:]
    return table[columns]


def _placebo_table(placebo: list[tuple[int, np.ndarray]], stats: dict, data: pd.DataFrame, series_ids: np.ndarray,
                   depths_known: np.ndarray, groups: list[str], z: float, min_group: int,
                   rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    ds = data[schema.DS].to_numpy()
    rows = []
    for index, (s, positions) in enumerate(placebo):
        row = {EPISODE_ID: f"{series_ids[s]} placebo {index + 1}", schema.UNIQUE_ID: series_ids[s],
               "start": ds[positions[0]], "end": ds[positions[-1]], "periods": len(positions)}
        for column in groups:
            row[column] = data[column].iloc[positions[0]]
        rows.append(row)
    columns = [EPISODE_ID, schema.UNIQUE_ID, *groups, "start", "end", "periods", "depth", "uplift_pct", "uplift_lo",
               "uplift_hi", "raw_uplift_pct", "raw_uplift_lo", "raw_uplift_hi", "significant", "raw_significant"]
    if not rows:
        return pd.DataFrame(columns=columns), {"episodes": 0, "false_positive_rate": np.nan,
                                               "raw_false_positive_rate": np.nan, "mean_uplift_pct": np.nan,
                                               "median_raw_uplift_pct": np.nan}
    table = pd.DataFrame(rows)
    # fake depths drawn from the real ones, so the placebo runs through the same pooled model
    table["depth"] = rng.choice(depths_known, len(table)) if len(depths_known) else np.nan
    main = [stats.get(("placebo", i), [None])[0] for i in range(len(table))]
    clusters = table[schema.UNIQUE_ID].astype(str).to_numpy()
    ratios, _ = _pooled_estimates(main, table, groups, z, min_group, clusters)
    for name, column in (("uplift_pct", "ratio"), ("uplift_lo", "ratio_lo"), ("uplift_hi", "ratio_hi"),
                         ("raw_uplift_pct", "raw"), ("raw_uplift_lo", "raw_lo"), ("raw_uplift_hi", "raw_hi")):
        table[name] = 100 * (ratios[column].to_numpy(dtype=float) - 1)
    for name in ("uplift_lo", "raw_uplift_lo"):
        table[name] = table[name].clip(lower=-100)
    known = table["uplift_pct"].notna()
    table["significant"] = (table["uplift_lo"] > 0) | (table["uplift_hi"] < 0)
    table["raw_significant"] = (table["raw_uplift_lo"] > 0) | (table["raw_uplift_hi"] < 0)
    rates = {
        "episodes": int(known.sum()),
        "false_positive_rate": float(table.loc[known, "significant"].mean()) if known.any() else np.nan,
        "raw_false_positive_rate": float(table.loc[known, "raw_significant"].mean()) if known.any() else np.nan,
        "mean_uplift_pct": float(table.loc[known, "uplift_pct"].mean()) if known.any() else np.nan,
        "median_raw_uplift_pct": float(table.loc[known, "raw_uplift_pct"].median()) if known.any() else np.nan,
    }
    return table[[c for c in columns if c in table.columns]], rates


# --- summaries ----------------------------------------------------------------------------------------------------

def depth_band(depth: pd.Series) -> pd.Series:
    """Discount depth as a label: each value (``"20%"``) when there are few, else quartile bands."""
    known = depth.dropna()
    if known.empty:
        return pd.Series("unknown", index=depth.index)
    rounded = (depth * 100).round(0)
    if rounded.dropna().nunique() <= 8:
        return rounded.map(lambda v: "unknown" if pd.isna(v) else f"{v:g}%")
    bands = pd.qcut(depth, 4, duplicates="drop")
    return bands.map(lambda b: f"{100 * b.left:.0f}-{100 * b.right:.0f}%").astype(str).where(depth.notna(),
                                                                                             "unknown")


def _summary(table: pd.DataFrame, groups: list[str], z: float) -> pd.DataFrame:
    """Pooled averages by group: mean predicted uplift over the group's episodes (delta-method interval from the
    cluster-robust covariance), and the summed incremental, after-promotion and sibling effects."""
    model = table.attrs.get("model", {})
    pooled: _Pooled | None = model.get("_pooled")
    used = model.get("_rows", np.array([], dtype=int))
    levels: list[tuple[str, pd.Series]] = [("all", pd.Series("all", index=table.index))]
    for column in (schema.CATEGORY, schema.CHANNEL, schema.LOCATION):
        if column in groups:
            levels.append((column, table[column].astype(str)))
    if table["depth"].notna().any():
        levels.append(("depth", depth_band(table["depth"])))
    rows = []
    for level, labels in levels:
        for group, members in labels.groupby(labels, sort=True).groups.items():
            members = np.asarray([table.index.get_loc(m) for m in members])
            part = table.iloc[members]
            row = {"level": level, "group": group, "episodes": len(part)}
            in_model = np.intersect1d(members, used)
            if pooled is not None and len(in_model):
                positions = np.searchsorted(used, in_model)
                x = pooled.X[positions]
                pred = np.exp(np.clip(x @ pooled.gamma, -10, 10))
                gradient = (x * pred[:, None]).mean(axis=0)
                se = float(np.sqrt(gradient @ pooled.cov @ gradient))
                mean = float(pred.mean())
                row.update(uplift_pct=100 * (mean - 1), uplift_lo=max(100 * (mean - z * se - 1), -100.0),
                           uplift_hi=100 * (mean + z * se - 1))
            else:
                row.update(uplift_pct=np.nan, uplift_lo=np.nan, uplift_hi=np.nan)
            row["incremental_units"] = float(part["incremental_units"].sum())
            for effect in ("after_effect", "sibling_effect"):
                values = part[f"{effect}_units"]
                half = ((part[f"{effect}_hi"] - part[f"{effect}_lo"]) / 2).fillna(0)
                total = float(values.sum()) if values.notna().any() else np.nan
                spread = float(np.sqrt((half ** 2).sum()))
                row[f"{effect}_units"] = total
                row[f"{effect}_lo"] = total - spread if np.isfinite(total) else np.nan
                row[f"{effect}_hi"] = total + spread if np.isfinite(total) else np.nan
            row["net_incremental_units"] = float(part["net_incremental_units"].sum())
            increment = row["incremental_units"]
            row["pull_forward_share"] = (-row["after_effect_units"] / increment
                                         if increment and np.isfinite(row["after_effect_units"]) else np.nan)
            row["cannibalised_share"] = (-row["sibling_effect_units"] / increment
                                         if increment and np.isfinite(row["sibling_effect_units"]) else np.nan)
            row["significant_share"] = float(part["significant"].mean())
            rows.append(row)
    return pd.DataFrame(rows)


def _elasticity(table: pd.DataFrame, price_coefs: list[tuple[int, float, float]], data: pd.DataFrame,
                first_rows: np.ndarray, groups: list[str], z: float) -> pd.DataFrame:
    """Price elasticities per category, as magnitudes (demand moves by that many percent, the other way, per
    percent of price): of promotional price cuts (the pooled model's slopes in ``-log(1 - depth)``) and of regular
    price changes (inverse-variance mean of the series' baseline coefficients on the log regular price)."""
    model = table.attrs.get("model", {})
    rows: dict[str, dict] = {}
    for name, coef, se in zip(model.get("terms", []), model.get("coefficients", []), model.get("std_errors", [])):
        if name.startswith("elasticity["):
            group = name[len("elasticity["):-1]
            rows.setdefault(group, {"category": group})
            rows[group].update(promo_elasticity=coef, promo_elasticity_lo=coef - z * se,
                               promo_elasticity_hi=coef + z * se)
    if price_coefs:
        category = (data[schema.CATEGORY].astype(str).to_numpy()[first_rows] if schema.CATEGORY in groups
                    else np.full(len(first_rows), "all"))
        frame = pd.DataFrame(price_coefs, columns=["series", "coef", "se"])
        frame = frame[frame["se"] > 0]
        frame["category"] = category[frame["series"].to_numpy()]
        for group, part in [("all", frame), *frame.groupby("category")]:
            w = 1 / part["se"] ** 2
            coef = -float((w * part["coef"]).sum() / w.sum())  # a magnitude, like the promotional one
            se = float(1 / np.sqrt(w.sum()))
            rows.setdefault(group, {"category": group})
            rows[group].update(price_elasticity=coef, price_elasticity_lo=coef - z * se,
                               price_elasticity_hi=coef + z * se, series_with_price_changes=len(part))
    columns = ["category", "promo_elasticity", "promo_elasticity_lo", "promo_elasticity_hi", "price_elasticity",
               "price_elasticity_lo", "price_elasticity_hi", "series_with_price_changes"]
    out = pd.DataFrame(list(rows.values()))
    for column in columns:
        if column not in out.columns:
            out[column] = np.nan
    return out[columns].sort_values("category", ignore_index=True) if len(out) else out[columns]


def _caveats(table: pd.DataFrame, data: pd.DataFrame, on_promo: np.ndarray, date_pos: np.ndarray, n_dates: int,
             thin_series: list[str], skipped: list[str], control_log: np.ndarray | None, has_category: bool,
             freq: str) -> list[str]:
    notes = []
    unit = _PERIOD_WORDS.get(freq, "periods")
    if len(table) < 10:
        notes.append(f"Only {len(table)} promotion episode(s): the pooled averages and each episode's interval rest "
                     "on very few examples.")
    per_date = np.bincount(date_pos, minlength=n_dates)
    promo_per_date = np.bincount(date_pos, weights=on_promo.astype(float), minlength=n_dates)
    promo_dates = promo_per_date > 0
    if promo_dates.any():
        share = promo_per_date[promo_dates] / np.maximum(per_date[promo_dates], 1)
        if np.mean(share >= 0.8) >= 0.5 and data[schema.UNIQUE_ID].nunique() > 1:
            notes.append("Most promotions ran on (nearly) every series at once, so no series shows what would "
                         "have sold without them: the baselines rest on the calendar and each series' own history.")
    if control_log is None:
        notes.append("No comparable series on another channel or location (same category) to act as controls: "
                     "the baselines rest on the calendar and each series' own history.")
    if not has_category:
        notes.append("Without a category column, sibling SKUs are unknown, so cannibalisation is not measured.")
    if thin_series:
        notes.append(f"{len(thin_series)} series {'has' if len(thin_series) == 1 else 'have'} fewer than "
                     f"{_SHORT_HISTORY} {unit} without promotions; their baselines are rough and their episodes "
                     "lean on the pooled estimate.")
    if skipped:
        notes.append(f"{len(skipped)} series {'has' if len(skipped) == 1 else 'have'} fewer than {_MIN_CLEAN} "
                     f"usable {unit} without promotions or stock-outs, so their promotions are not measured "
                     f"(e.g. {skipped[0]}).")
    stockouts = int((table["stockout_periods"] > 0).sum())
    if stockouts:
        notes.append(f"{stockouts} episode(s) ran out of stock on some {unit}; those {unit} are left out of the "
                     "ratio, so the uplift describes demand, not the (lower) sales.")
    return notes


# --- consumers ----------------------------------------------------------------------------------------------------

def effect_path(analysis: PromotionAnalysis, episode_id: str, before: int = 28, after_extra: int = 14) -> pd.DataFrame:
    """CausalImpact-style view of one episode: per period from ``before`` periods ahead of it to ``after_extra``
    past its after-window: ``actual``, ``counterfactual`` with its predictive band, the ``pointwise`` effect and
    the ``cumulative`` effect from the episode's start (its band adds the noise variances and treats the
    baseline's own error as fully correlated over the window), and the ``phase`` (this episode's ``promotion`` and
    ``after``, the series' ``other promotion`` periods, ``sibling promotion``, or ``""``)."""
    match = analysis.episodes.loc[analysis.episodes[EPISODE_ID] == episode_id]
    if match.empty:
        raise PromotionError(f"No promotion episode {episode_id!r}; pick one from the episode table.")
    episode = match.iloc[0]
    series = analysis.baseline.loc[analysis.baseline[schema.UNIQUE_ID] == episode[schema.UNIQUE_ID]]
    series = series.reset_index(drop=True)
    start = int(np.searchsorted(series[schema.DS].to_numpy(), np.datetime64(episode["start"])))
    end = int(np.searchsorted(series[schema.DS].to_numpy(), np.datetime64(episode["end"]), side="right"))
    post = analysis.settings.post_for(analysis.freq)
    part = series.iloc[max(start - before, 0): min(end + post + after_extra, len(series))].copy()
    z = analysis.settings.z
    part["actual"] = part[schema.Y]
    part["pointwise"] = part["actual"] - part["counterfactual"]
    sd = np.sqrt(part["noise_var"] + part["model_sd"] ** 2)
    part["pointwise_lo"] = part["pointwise"] - z * sd
    part["pointwise_hi"] = part["pointwise"] + z * sd
    from_start = part[schema.DS] >= episode["start"]
    effect = part["pointwise"].where(from_start, 0.0).fillna(0.0)
    part["cumulative"] = effect.cumsum().where(from_start)
    noise = part["noise_var"].where(from_start, 0.0).fillna(0.0).cumsum()
    model = part["model_sd"].where(from_start, 0.0).fillna(0.0).cumsum()
    half = z * np.sqrt(noise + model ** 2)
    part["cumulative_lo"] = (part["cumulative"] - half).where(from_start)
    part["cumulative_hi"] = (part["cumulative"] + half).where(from_start)
    own = part[EPISODE_ID] == episode_id
    other = ~own & part[PHASE].isin([PROMOTION, AFTER])
    part[PHASE] = np.where(own, part[PHASE], np.where(other, OTHER_PROMOTION, part[PHASE]))
    return part[[schema.DS, "actual", "counterfactual", "counterfactual_lo", "counterfactual_hi", "pointwise",
                 "pointwise_lo", "pointwise_hi", "cumulative", "cumulative_lo", "cumulative_hi", PHASE, "stockout"]]


def promotion_cleaned(frame: pd.DataFrame, analysis: PromotionAnalysis) -> pd.DataFrame:
    """The sales frame with promotion effects taken out: on promotion periods, the periods after them and
    siblings' promotion periods, ``y`` becomes the estimated baseline (stock-out periods keep their sales), and
    ``promo`` is 0 and the price is the regular one. Forecasts made on it show demand without promotions."""
    cleaned = _sorted_frame(frame)
    baseline = analysis.baseline
    replace = (baseline[PHASE] != "").to_numpy() & ~baseline["stockout"].to_numpy() \
        & baseline["counterfactual"].notna().to_numpy()
    if len(baseline) != len(cleaned) or not (baseline[schema.UNIQUE_ID].to_numpy()
                                              == cleaned[schema.UNIQUE_ID].to_numpy()).all():
        raise PromotionError("The promotion analysis was made on other data; run it again on this dataset.")
    y = cleaned[schema.Y].to_numpy(dtype=float).copy()
    y[replace] = np.round(baseline["counterfactual"].to_numpy()[replace], 3)
    cleaned[schema.Y] = y
    if schema.PROMO in cleaned.columns or schema.PRICE in cleaned.columns:
        marks = promotion_marks(cleaned, analysis.settings)
        if schema.PRICE in cleaned.columns:  # the regular price, so no model learns a price effect from baselines
            regular = marks["regular_price"].to_numpy()
            cleaned[schema.PRICE] = np.where(marks["on_promo"].to_numpy() & np.isfinite(regular), regular,
                                             cleaned[schema.PRICE].to_numpy(dtype=float))
        if schema.PROMO in cleaned.columns:
            cleaned[schema.PROMO] = 0.0
    return cleaned


def public_model(model: dict) -> dict:
    """The pooled model's description without its internal arrays (for JSON and display)."""
    return {k: v for k, v in model.items() if not k.startswith("_")}
