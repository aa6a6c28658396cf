import json

import numpy as np
import pandas as pd
import pytest

from core.data.synthetic import (
    INVENTORY_COLUMNS,
    SALES_COLUMNS,
    TRUE_DEMAND_COLUMNS,
    DemoShop,
    generate_demo_shop,
    generate_series,
    write_demo_shop,
)
from core.schema import DATE, ON_HAND, PROMO, SKU, UNITS


@pytest.fixture(scope="module")
def shop() -> DemoShop:
    return generate_demo_shop()


# --- generate_series ------------------------------------------------------------------------------------------------

def test_generate_series_shape_and_columns():
    panel = generate_series(n_series=4, n_periods=30)
    assert list(panel.columns) == ["date", "sku", "channel", "units", "price", "promo"]
    assert len(panel) == 4 * 30 and panel[SKU].nunique() == 4
    assert (panel[UNITS] >= 0).all() and panel[PROMO].between(0, 1).all()


def test_generate_series_is_deterministic():
    pd.testing.assert_frame_equal(generate_series(seed=3), generate_series(seed=3))
    assert not generate_series(seed=3).equals(generate_series(seed=4))


@pytest.mark.parametrize(("freq", "second"), [("D", "2024-01-02"), ("W", "2024-01-08"), ("M", "2024-02-01")])
def test_generate_series_frequencies(freq, second):
    panel = generate_series(n_series=1, n_periods=3, freq=freq)
    assert panel[DATE].dt.strftime("%Y-%m-%d").tolist()[:2] == ["2024-01-01", second]


def test_generate_series_rejects_unknown_freq():
    with pytest.raises(ValueError, match="freq must be one of"):
        generate_series(freq="H")


# --- the demo shop --------------------------------------------------------------------------------------------------

def test_demo_shop_tables(shop):
    assert tuple(shop.sales.columns) == SALES_COLUMNS
    assert tuple(shop.true_demand.columns) == TRUE_DEMAND_COLUMNS
    assert tuple(shop.inventory.columns) == INVENTORY_COLUMNS
    assert shop.sales[SKU].nunique() == 60
    assert shop.sales["category"].nunique() == 6
    assert set(shop.sales["channel"]) == {"app", "tmall", "jd"}
    assert shop.sales[DATE].min() == pd.Timestamp("2023-11-01")
    assert shop.sales[DATE].max() == pd.Timestamp("2026-10-31")
    assert not shop.sales.duplicated([DATE, SKU, "channel"]).any()
    pd.testing.assert_frame_equal(shop.sales[[DATE, SKU, "channel"]], shop.true_demand[[DATE, SKU, "channel"]])
    listed_at_end = shop.sales.loc[shop.sales[DATE] == shop.sales[DATE].max(), [SKU, "channel"]]
    pd.testing.assert_frame_equal(shop.inventory[[SKU, "channel"]], listed_at_end.reset_index(drop=True))
    assert (shop.inventory[ON_HAND] >= 0).all() and (shop.inventory["on_order"] >= 0).all()


def test_sales_are_demand_censored_by_stock(shop):
    units, demand = shop.sales[UNITS].to_numpy(), shop.true_demand["demand"].to_numpy()
    stock = shop.sales[ON_HAND].to_numpy()
    assert (units <= demand).all()
    assert (units[stock > 0] == demand[stock > 0]).all()  # only an empty shelf loses sales
    censored = units < demand
    assert 0.005 < censored.mean() < 0.1
    assert sum(series["censored_days"] for series in shop.ground_truth["series"]) == censored.sum()


def test_planted_promotion_uplift_is_visible(shop):
    promotions = pd.DataFrame(shop.ground_truth["promotions"])
    assert len(promotions) > 300
    clean = promotions[promotions["stockout_days_observed"] == 0]
    days = [pd.date_range(p.start, p.end) for p in clean.itertuples()]
    keys = pd.DataFrame({
        SKU: np.repeat(clean[SKU].to_numpy(), [len(d) for d in days]),
        "channel": np.repeat(clean["channel"].to_numpy(), [len(d) for d in days]),
        DATE: np.concatenate([d.to_numpy() for d in days]),
    })
    observed = keys.merge(shop.sales, on=[SKU, "channel", DATE], how="left")
    assert (observed[PROMO] > 0).all()
    observed_incremental = observed[UNITS].sum() - clean["expected_baseline_units"].sum()
    planted_incremental = clean["expected_incremental_units"].sum()
    assert observed_incremental == pytest.approx(planted_incremental, rel=0.1)
    deep = clean[clean["depth"] >= 0.3]
    assert (deep["uplift_pct"] > 50).all()


def test_events_move_demand(shop):
    tmall = shop.sales[shop.sales["channel"] == "tmall"].groupby(DATE)[UNITS].sum()
    late_november = tmall["2024-11-15":"2024-11-30"].mean()
    assert tmall["2024-11-11"] > 3 * late_november
    assert tmall["2024-11-01":"2024-11-10"].mean() < late_november  # shoppers wait for 11.11
    assert tmall["2025-01-28":"2025-02-04"].mean() < 0.6 * tmall["2025-01-01":"2025-01-10"].mean()  # Spring Festival


def test_intermittent_skus_have_many_zero_days(shop):
    intermittent = shop.ground_truth["intermittent_skus"]
    assert len(intermittent) >= 5
    zero_share = (shop.sales[shop.sales[SKU].isin(intermittent)][UNITS] == 0).mean()
    assert zero_share > 0.6


def test_discontinued_sku_stops_and_new_skus_start_late(shop):
    (sku, last_day), = shop.ground_truth["discontinued_skus"].items()
    rows = shop.sales[shop.sales[SKU] == sku]
    assert rows[DATE].max() == pd.Timestamp(last_day)
    assert rows[DATE].max() < pd.Timestamp("2026-10-31") - pd.Timedelta(days=180)
    assert sku not in set(shop.inventory[SKU])
    first_seen = shop.sales.groupby(SKU)[DATE].min()
    for sku, launch in shop.ground_truth["new_skus"].items():
        assert first_seen[sku] == pd.Timestamp(launch) > pd.Timestamp("2024-01-01")


def test_ground_truth_is_json_and_complete(shop):
    truth = json.loads(json.dumps(shop.ground_truth))
    for key in ("seed", "event_multipliers", "categories", "weekly_pattern", "promotions", "price_changes",
                "intermittent_skus", "new_skus", "discontinued_skus", "series"):
        assert key in truth
    episode = truth["promotions"][0]
    for key in ("sku", "channel", "start", "end", "depth", "expected_baseline_units", "expected_incremental_units",
                "uplift_pct", "pull_forward_units", "cannibalised_units"):
        assert key in episode


def test_written_demo_shop_is_byte_identical_and_small(tmp_path):
    first = write_demo_shop(tmp_path / "a", seed=7)
    second = write_demo_shop(tmp_path / "b", seed=7)
    assert [p.name for p in first] == ["sales.csv.gz", "true_demand.csv.gz", "inventory.csv", "ground_truth.json"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert sum(p.stat().st_size for p in first) < 10 * 1024**2
    sales = pd.read_csv(first[0])
    assert list(sales.columns) == list(SALES_COLUMNS)
