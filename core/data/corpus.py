"""The pretraining corpus: seeded synthetic demand series at daily, weekly and monthly frequency.

Each series is drawn as a daily mean-demand curve in log space and then sampled as sales:

* KernelSynth-style composed kernels: a piecewise-linear trend, smooth noise of a random length scale (an RBF
  kernel's look), weekly and yearly cycles, an extra periodic component of random period, multiplied or added;
* retail processes: public holidays and e-commerce events from :mod:`core.data.calendar` (each series reacts to a
  random subset of events, some with a presale dip before and a hangover after; 15% close on public holidays,
  45% sell more or less then), promotion episodes with a price cut,
  an uplift that grows with the discount and a pull-forward dip afterwards, permanent price changes, level
  shifts, launches with a ramp-up, phase-outs, closing days;
* sales from the mean as negative binomial counts (from near-Poisson to very overdispersed), intermittent and
  lumpy demand (rare orders of random size), or continuous amounts (weights, volumes), over scales from one
  unit a month to thousands a day;
* stock-outs that censor sales: flagged (the model sees them as unobserved) in some series, silent zeros in
  others, as in real exports.

Weekly and monthly series are the sums of daily draws over Monday weeks and calendar months, so their noise and
events aggregate the way real ones do. Series from a folder of real data (``external_series``) can be added.
The recipe and counts are recorded in :attr:`Corpus.manifest`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core import schema
from core.data.calendar import event_features

#: frequencies in the corpus, with the share of series drawn at each
FREQ_SHARES: dict[str, float] = {schema.DAILY: 0.6, schema.WEEKLY: 0.3, schema.MONTHLY: 0.1}
#: countries whose holidays the synthetic series react to
CORPUS_COUNTRIES: tuple[str, ...] = ("US", "DE", "GB", "CN", "FR", "JP")
#: the per-period input flags every series carries besides its sales (all in [0, 1])
FLAGS: tuple[str, ...] = ("observed", "promo", "event", "event_window", "holiday")
_CALENDAR_START = dt.date(2008, 1, 1)
_CALENDAR_END = dt.date(2029, 12, 31)


@dataclass(frozen=True)
class CorpusRecipe:
    """The knobs of the generator (probabilities are per series)."""

    n_series: int = 40_000
    seed: int = 0
    freq_shares: tuple[tuple[str, float], ...] = tuple(FREQ_SHARES.items())
    #: length in periods, drawn uniformly per frequency
    daily_length: tuple[int, int] = (400, 1500)
    weekly_length: tuple[int, int] = (60, 320)
    monthly_length: tuple[int, int] = (24, 96)
    #: log10 of the mean units per day
    log10_level: tuple[float, float] = (-1.5, 3.5)
    p_intermittent: float = 0.15
    p_continuous: float = 0.08
    p_promotions: float = 0.5
    p_price_changes: float = 0.3
    p_event_reaction: float = 0.6
    p_yearly: float = 0.7
    p_level_shift: float = 0.3
    p_launch: float = 0.25
    p_phase_out: float = 0.08
    p_stockouts: float = 0.25
    p_stockouts_flagged: float = 0.6
    p_closed_weekday: float = 0.06


@dataclass
class FreqBlock:
    """The series of one frequency, right-aligned on a common length ``T``: arrays are ``(n, T)``.

    ``sales`` is what an export would show (NaN before a series starts), ``demand`` the uncensored demand used as
    the training target, ``flags[name]`` the inputs of :data:`FLAGS`; ``price_ratio`` is the price relative to
    the series' usual price (NaN where the series has no price); ``start`` the first period of each series.
    """

    freq: str
    sales: np.ndarray
    demand: np.ndarray
    flags: dict[str, np.ndarray]
    price_ratio: np.ndarray
    start: np.ndarray
    dates_end: np.ndarray

    @property
    def n_series(self) -> int:
        return len(self.start)


@dataclass
class Corpus:
    blocks: dict[str, FreqBlock]
    manifest: dict = field(default_factory=dict)

    @property
    def n_series(self) -> int:
        return sum(block.n_series for block in self.blocks.values())


class _Calendar:
    """Daily event and holiday flags from 2008 to 2029, looked up by day offset."""

    def __init__(self) -> None:
        days = pd.date_range(_CALENDAR_START, _CALENDAR_END, freq="D")
        table = event_features(days, schema.DAILY, countries=CORPUS_COUNTRIES)
        self.days = days
        self.event_keys = sorted({c[3:] for c in table.columns if c.startswith("ev_") and
                                  not c.endswith(("_pre", "_post"))})
        self.on = {k: table[f"ev_{k}"].to_numpy(np.float32) for k in self.event_keys}
        self.pre = {k: table[f"ev_{k}_pre"].to_numpy(np.float32) if f"ev_{k}_pre" in table else
                    np.zeros(len(days), np.float32) for k in self.event_keys}
        self.post = {k: table[f"ev_{k}_post"].to_numpy(np.float32) if f"ev_{k}_post" in table else
                     np.zeros(len(days), np.float32) for k in self.event_keys}
        self.any_event = np.clip(sum(self.on.values()), 0, 1).astype(np.float32)
        self.any_window = np.clip(sum(self.pre.values()) + sum(self.post.values()), 0, 1).astype(np.float32)
        self.holiday = {c: table[f"holiday_{c.lower()}"].to_numpy(np.float32) for c in CORPUS_COUNTRIES}


def _smooth_noise(rng: np.random.Generator, n: int, length_scale: float) -> np.ndarray:
    """Zero-mean, unit-variance noise with the given correlation length (an RBF-kernel-like sample)."""
    width = max(int(length_scale), 1)
    kernel = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    noise = np.convolve(rng.standard_normal(n + 6 * width), kernel, mode="valid")[:n]
    return (noise - noise.mean()) / (noise.std() + 1e-9)


def _piecewise_trend(rng: np.random.Generator, n: int) -> np.ndarray:
    total = rng.normal(0, 0.6)
    knots = np.sort(rng.integers(0, n, rng.integers(0, 4)))
    slopes = rng.normal(total / n, 0.8 / n, len(knots) + 1)
    steps = np.empty(n)
    edges = np.concatenate([[0], knots, [n]])
    for i in range(len(edges) - 1):
        steps[edges[i]:edges[i + 1]] = slopes[i]
    trend = np.cumsum(steps)
    return trend - trend[-1] * rng.uniform(0.3, 1.0)


def _draw_daily(rng: np.random.Generator, n: int, start: int, calendar: _Calendar, recipe: CorpusRecipe) -> dict:
    """One daily series of ``n`` days starting ``start`` days after 2008-01-01."""
    t = np.arange(n)
    day = start + t
    dates = calendar.days[day]
    doy = dates.day_of_year.to_numpy()
    dow = dates.day_of_week.to_numpy()
    log_mu = np.full(n, np.log(10 ** rng.uniform(*recipe.log10_level)))

    # composed kernels
    if rng.random() < 0.7:
        log_mu += _piecewise_trend(rng, n)
    if rng.random() < 0.7:
        log_mu += rng.uniform(0.02, 0.4) * _smooth_noise(rng, n, rng.uniform(5, 150))
    weekly = np.zeros(7)
    if rng.random() < 0.85:
        weekly = rng.normal(0, rng.uniform(0.05, 0.5), 7)
        if rng.random() < 0.4:  # a weekend peak or trough
            weekly[5:] += rng.normal(0, 0.4)
    yearly = np.zeros(n)
    if rng.random() < recipe.p_yearly:
        for k in range(1, rng.integers(1, 5)):
            yearly += rng.uniform(0, 0.5) / k * np.sin(2 * np.pi * k * doy / 365.25 + rng.uniform(0, 2 * np.pi))
        if rng.random() < 0.25:  # a peak season
            centre, width = rng.uniform(0, 365), rng.uniform(7, 45)
            distance = np.minimum(np.abs(doy - centre), 365 - np.abs(doy - centre))
            yearly += rng.uniform(0.3, 1.5) * np.exp(-0.5 * (distance / width) ** 2)
    if rng.random() < 0.5 and rng.random() < 0.3:  # weekly and yearly interact: multiplicative composition
        log_mu += weekly[dow] * (1 + 0.5 * yearly) + yearly
    else:
        log_mu += weekly[dow] + yearly
    if rng.random() < 0.15:
        period = rng.uniform(3, 60)
        log_mu += rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.1:  # pay-day: the first days of the month
        log_mu += rng.uniform(0.1, 0.5) * (dates.day.to_numpy() <= 3)
    if rng.random() < recipe.p_level_shift:
        for at in rng.integers(30, max(n - 30, 31), rng.integers(1, 3)):
            log_mu[at:] += rng.normal(0, 0.5)

    # events and holidays
    country = CORPUS_COUNTRIES[rng.integers(len(CORPUS_COUNTRIES))]
    holiday = calendar.holiday[country][day]
    if rng.random() < recipe.p_event_reaction:
        for key in calendar.event_keys:
            if rng.random() < 0.3:
                log_mu += rng.uniform(0.1, 1.8) * calendar.on[key][day]
                if rng.random() < 0.4:
                    log_mu += rng.uniform(-0.5, 0.4) * calendar.pre[key][day]
                if rng.random() < 0.4:
                    log_mu -= rng.uniform(0.0, 0.5) * calendar.post[key][day]
    closed = np.zeros(n, dtype=bool)
    holiday_reaction = rng.random()
    if holiday_reaction < 0.15:
        closed |= holiday > 0
    elif holiday_reaction < 0.6:
        log_mu += rng.uniform(-1.5, 0.8) * holiday
    if rng.random() < recipe.p_closed_weekday:
        closed |= dow == 6

    # promotions and prices
    promo = np.zeros(n, dtype=np.float32)
    price_ratio = np.ones(n)
    if rng.random() < recipe.p_price_changes:
        for at in rng.integers(0, n, rng.integers(1, 4)):
            change = np.exp(rng.normal(0, 0.15))
            price_ratio[at:] *= change
        elasticity = rng.uniform(0.5, 3.0)
        log_mu -= elasticity * np.log(price_ratio)
    if rng.random() < recipe.p_promotions:
        gap = rng.uniform(10, 120)
        elasticity = rng.uniform(1.0, 6.0)
        price_cut = rng.random() < 0.8  # else displays or adverts: an uplift without a price cut
        cursor = int(rng.exponential(gap))
        while cursor < n:
            length = int(rng.integers(1, 15))
            depth = rng.uniform(0.05, 0.5)
            stop = min(cursor + length, n)
            promo[cursor:stop] = 1
            if price_cut:
                price_ratio[cursor:stop] *= 1 - depth
            log_mu[cursor:stop] += elasticity * depth * rng.uniform(0.6, 1.4)
            dip = int(rng.integers(0, 11))
            if dip and rng.random() < 0.6:
                log_mu[stop:stop + dip] += np.log(1 - rng.uniform(0.1, 0.6))
            cursor = stop + 1 + int(rng.exponential(gap))

    # life cycle
    first = 0
    if rng.random() < recipe.p_launch:
        first = int(rng.integers(0, max(n // 2, 1)))
        ramp = rng.uniform(3, 90)
        log_mu += np.log1p(-np.exp(-np.maximum(t - first + 1, 0.5) / ramp))
    if rng.random() < recipe.p_phase_out:
        end = int(rng.integers(n // 2, n))
        log_mu -= np.maximum(t - end, 0) / rng.uniform(5, 60)

    # AR(1) noise in log space: slow weeks stay slow
    phi, sigma = rng.uniform(0, 0.9), 10 ** rng.uniform(-2, -0.7)
    shocks = rng.standard_normal(n) * sigma
    ar = np.empty(n)
    ar[0] = shocks[0]
    for i in range(1, n):
        ar[i] = phi * ar[i - 1] + shocks[i]
    mu = np.exp(np.clip(log_mu + ar, -20, 12))
    mu[closed] = 0.0

    kind = rng.random()
    if kind < recipe.p_intermittent:  # rare orders of random size
        size_mean = rng.uniform(1.5, 20)
        occurrence = np.clip(mu / size_mean, 0, 1)
        sizes = 1 + rng.negative_binomial(rng.uniform(0.5, 5), 1 / (1 + (size_mean - 1) / rng.uniform(0.5, 5)), n)
        demand = np.where(rng.random(n) < occurrence, sizes, 0).astype(float)
    elif kind < recipe.p_intermittent + recipe.p_continuous:  # amounts, not counts
        cv = rng.uniform(0.05, 0.6)
        demand = mu * rng.gamma(1 / cv ** 2, cv ** 2, n)
    else:
        # noise beyond Poisson: a coefficient of variation from 2% to 70% (real store totals sit near 10-20%)
        extra_cv = 10 ** rng.uniform(np.log10(0.02), np.log10(0.7))
        dispersion = 1 / extra_cv ** 2
        demand = rng.poisson(rng.gamma(dispersion, mu / dispersion)).astype(float)

    sales = demand.copy()
    observed = np.ones(n, dtype=bool)
    if rng.random() < recipe.p_stockouts:
        flagged = rng.random() < recipe.p_stockouts_flagged
        for at in rng.integers(first, n, rng.integers(1, 5)):
            stop = min(at + int(rng.integers(2, 30)), n)
            sales[at:stop] = np.floor(sales[at:stop] * rng.uniform(0, 0.3))
            if flagged:
                observed[at:stop] = False
    sales[:first] = np.nan
    demand[:first] = np.nan
    observed[:first] = False
    if rng.random() < 0.5:  # half the series come without a price column
        price_ratio = np.full(n, np.nan)
    return {"day": day, "sales": sales, "demand": demand, "observed": observed, "promo": promo,
            "price_ratio": price_ratio, "event": calendar.any_event[day], "event_window": calendar.any_window[day],
            "holiday": holiday, "first": first}


def _aggregate(series: dict, freq: str, calendar: _Calendar) -> dict:
    """Daily draws summed over Monday weeks or calendar months (full periods only); flags become shares."""
    dates = calendar.days[series["day"]]
    if freq == schema.WEEKLY:
        key = (dates - pd.to_timedelta(dates.day_of_week, unit="D")).to_numpy()
    else:
        key = dates.to_period("M").to_timestamp().to_numpy()
    codes, periods = pd.factorize(key)
    counts = np.bincount(codes)
    full = counts == (7 if freq == schema.WEEKLY else np.asarray(pd.DatetimeIndex(periods).days_in_month))
    launched = ~np.isnan(series["sales"])

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=np.nan_to_num(values), minlength=len(periods))

    def share(values: np.ndarray) -> np.ndarray:
        return total(values.astype(float)) / counts

    started = share(launched) == 1.0
    keep = full & (started | (share(launched) == 0))
    out = {
        "sales": np.where(started, total(series["sales"]), np.nan),
        "demand": np.where(started, total(series["demand"]), np.nan),
        "observed": started & (share(series["observed"]) == 1.0),
        "promo": share(series["promo"]),
        "price_ratio": total(series["price_ratio"]) / counts * (1 if np.isfinite(series["price_ratio"]).all()
                                                                  else np.nan),
        "event": share(series["event"]),
        "event_window": share(series["event_window"]),
        "holiday": share(series["holiday"]),
    }
    out = {k: v[keep] for k, v in out.items()}
    return out


def _stack(series: list[dict], freq: str, ends: list[int]) -> FreqBlock:
    length = max(len(s["sales"]) for s in series)
    n = len(series)

    def grid(key: str, fill: float, dtype=np.float32) -> np.ndarray:
        out = np.full((n, length), fill, dtype=dtype)
        for i, s in enumerate(series):
            out[i, length - len(s[key]):] = s[key]
        return out

    sales, demand = grid("sales", np.nan), grid("demand", np.nan)
    flags = {name: grid(name, 0.0) for name in FLAGS}
    flags["observed"] = flags["observed"] * np.isfinite(sales)
    start = np.argmax(np.isfinite(sales), axis=1)
    return FreqBlock(freq, sales, demand, flags, grid("price_ratio", np.nan), start, np.asarray(ends))


def generate_corpus(recipe: CorpusRecipe = CorpusRecipe(), progress=None) -> Corpus:
    """Draw ``recipe.n_series`` series; reproducible for a given recipe (its ``seed`` included)."""
    rng = np.random.default_rng(recipe.seed)
    calendar = _Calendar()
    freqs = [f for f, _ in recipe.freq_shares]
    shares = np.array([s for _, s in recipe.freq_shares], dtype=float)
    drawn = rng.choice(len(freqs), recipe.n_series, p=shares / shares.sum())
    lengths = {schema.DAILY: recipe.daily_length, schema.WEEKLY: recipe.weekly_length,
               schema.MONTHLY: recipe.monthly_length}
    days_per = {schema.DAILY: 1, schema.WEEKLY: 7, schema.MONTHLY: 31}
    collected: dict[str, list[dict]] = {f: [] for f in freqs}
    ends: dict[str, list[int]] = {f: [] for f in freqs}
    intermittent = 0
    for i, which in enumerate(drawn):
        freq = freqs[which]
        periods = int(rng.integers(*lengths[freq]))
        n_days = periods * days_per[freq] + 7
        latest = len(calendar.days) - n_days - 1
        start = int(rng.integers(0, latest))
        series = _draw_daily(rng, n_days, start, calendar, recipe)
        if freq != schema.DAILY:
            series = _aggregate(series, freq, calendar)
        finite = series["sales"][np.isfinite(series["sales"])]
        if len(finite) and np.mean(finite == 0) > 0.3:
            intermittent += 1
        collected[freq].append(series)
        ends[freq].append(start + n_days)
        if progress is not None and (i + 1) % 2000 == 0:
            progress(i + 1, recipe.n_series)
    blocks = {f: _stack(collected[f], f, ends[f]) for f in freqs if collected[f]}
    manifest = {
        "recipe": asdict(recipe),
        "series_by_freq": {f: b.n_series for f, b in blocks.items()},
        "share_zero_heavy": intermittent / max(recipe.n_series, 1),
        "countries": list(CORPUS_COUNTRIES),
        "events": calendar.event_keys,
        "external": [],
    }
    return Corpus(blocks, manifest)


def add_external_series(corpus: Corpus, folder: str | Path, holdout: int = 90) -> Corpus:
    """Add the series of every sales file in ``folder`` (read like an upload) at their own frequency.

    The last ``holdout`` periods of each file are left out, so that the windows a benchmark evaluates on never
    reach the corpus when the same data is later used to test; what was read is recorded in the manifest.
    """
    from core.data.validate import load_sales
    from core.models.base import build_panel

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of sales files.")
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        result = load_sales(path)
        if not result.accepted:
            corpus.manifest["external"].append({"file": path.name, "skipped": result.report.headline})
            continue
        panel = build_panel(result.frame)
        if len(panel.dates) <= holdout + 8:
            corpus.manifest["external"].append({"file": path.name, "skipped": "too short for the holdout"})
            continue
        y = panel.y[:, : len(panel.dates) - holdout].astype(np.float32)
        flags = {name: np.zeros_like(y) for name in FLAGS}
        flags["observed"] = np.isfinite(y).astype(np.float32)
        block = FreqBlock(panel.freq, y, y.copy(), flags, np.full_like(y, np.nan), panel.start.copy(),
                          np.zeros(len(y), dtype=np.int64))
        corpus.blocks[panel.freq] = _concat(corpus.blocks.get(panel.freq), block)
        corpus.manifest["external"].append({
            "file": path.name, "freq": panel.freq, "series": int(panel.n_series),
            "first": f"{panel.dates[0]:%Y-%m-%d}", "last_used": f"{panel.dates[len(panel.dates) - holdout - 1]:%Y-%m-%d}",
        })
    return corpus


def _concat(old: FreqBlock | None, new: FreqBlock) -> FreqBlock:
    if old is None:
        return new
    length = max(old.sales.shape[1], new.sales.shape[1])

    def pad(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((len(values), length), fill, dtype=np.float32)
        out[:, length - values.shape[1]:] = values
        return out

    def both(a: np.ndarray, b: np.ndarray, fill: float) -> np.ndarray:
        return np.vstack([pad(a, fill), pad(b, fill)])

    flags = {k: both(old.flags[k], new.flags[k], 0.0) for k in FLAGS}
    return FreqBlock(old.freq, both(old.sales, new.sales, np.nan), both(old.demand, new.demand, np.nan), flags,
                     both(old.price_ratio, new.price_ratio, np.nan),
                     np.concatenate([old.start + length - old.sales.shape[1], new.start + length - new.sales.shape[1]]),
                     np.concatenate([old.dates_end, new.dates_end]))
