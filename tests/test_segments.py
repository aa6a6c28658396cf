"""ABC/XYZ segmentation."""

import numpy as np
import pandas as pd

from core import schema
from core.segments import segment_series


def test_abc_by_share_of_units_and_xyz_by_variability():
    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-01-01", periods=364)
    rows = []
    levels = {"big": 100.0, "mid": 15.0, "small": 2.0, "tiny": 0.5}
    for sku, level in levels.items():
        y = rng.poisson(level, len(dates)).astype(float)
        rows.append(pd.DataFrame({schema.UNIQUE_ID: sku, schema.DS: dates, schema.Y: y}))
    lumpy = np.zeros(len(dates))
    lumpy[::60] = 50
    rows.append(pd.DataFrame({schema.UNIQUE_ID: "lumpy", schema.DS: dates, schema.Y: lumpy}))
    table = segment_series(pd.concat(rows, ignore_index=True))
    assert table.loc["big", "abc"] == "A"
    assert table.loc["tiny", "abc"] == "C"
    assert table.loc["big", "xyz"] == "X"
    assert table.loc["lumpy", "xyz"] == "Z"
    assert table.loc["big", "segment"] == "A-X"
