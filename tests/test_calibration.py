"""Whole-network calibration that cannot make a part family free, and costs that cannot be unbounded."""

import math

import numpy as np
import pytest

from tnd.errors import TndError
from tnd.lut.estimate import (GROUP_ORDER, MIN_NETWORKS, RIDGE, WEIGHT_BOUNDS, NetworkEstimate, calibration_fit,
                              fit_groups, format_fit)
from tnd.lut.table import LookupTable
from tnd.space.parts import PartKey


def _networks(n, pool_share, seed=0, pools_in=None):
    """Per-family table sums of ``n`` networks (conv, pool, skip, merge) and a 'measured' figure in which
    pools cost nothing at all, plus 3% noise: what drove an unregularised fit to a pool weight of 0."""
    rng = np.random.default_rng(seed)
    conv = rng.uniform(0.5, 5.0, n)
    pool = conv * pool_share * rng.uniform(0.5, 1.5, n)
    if pools_in is not None:
        pool[pools_in:] *= 1e-3                        # present (at any share) in only ``pools_in`` networks
    skip = conv * rng.uniform(0.02, 0.1, n)
    merge = conv * rng.uniform(0.05, 0.15, n)
    X = np.column_stack([conv, pool, skip, merge])
    y = (0.9 * conv + 0 * pool + 1.1 * skip + 0.8 * merge + 0.02) * rng.normal(1, 0.03, n)
    return X, y


def test_barely_present_pools_keep_weight_one():
    X, y = _networks(20, pool_share=0.1, pools_in=MIN_NETWORKS - 2)
    unregularised = fit_groups(X, y, ridge=0.0, bounds=(0.0, np.inf), min_networks=0)
    assert unregularised.coef[GROUP_ORDER.index("pool")] < 0.5        # the data alone would make pools ~free
    fit = fit_groups(X, y)
    pool = GROUP_ORDER.index("pool")
    assert not fit.fitted[pool] and fit.coef[pool] == 1.0            # too few networks: the table's figure
    assert fit.networks[pool] == MIN_NETWORKS - 2
    assert fit.fitted[GROUP_ORDER.index("conv")]


def test_weights_stay_within_bounds_and_shrink_towards_one():
    X, y = _networks(20, pool_share=0.03)                             # present everywhere, but small
    fit = fit_groups(X, y)
    lo, hi = WEIGHT_BOUNDS
    assert np.all(fit.coef >= lo - 1e-12) and np.all(fit.coef <= hi + 1e-12)
    assert fit.coef[GROUP_ORDER.index("pool")] >= lo                  # never 0: a latency reward never sees pools free
    free = fit_groups(X, y, ridge=0.0, bounds=(0.0, np.inf), min_networks=0)
    stronger = fit_groups(X, y, ridge=100 * RIDGE)
    for k in range(len(GROUP_ORDER)):                                # more ridge, closer to 1
        assert abs(stronger.coef[k] - 1) <= abs(fit.coef[k] - 1) + 1e-9 or fit.coef[k] == lo
    assert fit.predict(X) == pytest.approx(y, rel=0.15)
    assert abs(free.coef[0] - 0.9) < 0.1 and abs(fit.coef[0] - 0.9) < 0.1   # a well-measured weight is kept


def test_stored_fit_has_each_weights_uncertainty():
    X, y = _networks(30, pool_share=0.1)
    fit = calibration_fit(X, y, seed=0)
    assert fit["kind"] == "grouped-linear/2" and set(fit["coef"]) == set(GROUP_ORDER)
    assert set(fit["coef_sd"]) == set(GROUP_ORDER)
    assert all(math.isfinite(v) and v >= 0 for v in fit["coef_sd"].values())
    assert fit["coef_sd"]["conv"] > 0 and fit["intercept_sd"] > 0
    assert fit["prior"]["bounds"] == list(WEIGHT_BOUNDS) and fit["fitted"]["conv"] is True
    assert calibration_fit(X, y, seed=0) == fit                      # seeded: the same spread every time
    noisier = calibration_fit(X, y * np.random.default_rng(1).normal(1, 0.1, len(y)), seed=0)
    assert noisier["coef_sd"]["conv"] > fit["coef_sd"]["conv"]
    text = format_fit(fit)
    assert "+-" in text and "bootstrap" in text


def _table(latency: float, overhead=0.01, calibration=None) -> tuple[LookupTable, PartKey]:
    key = PartKey("sep_conv_3x3", 8, 8, 8, 8, 1)
    t = LookupTable(device={"preset": "cpu"}, runtime={}, entries={
        str(key): {"latency_ms": {"median": latency}, "energy_mj": None}},
        settings={"batch_size": 1, "dtype": "float32", "warmup": 1, "repeats": 1, "energy_method": "none",
                  "call_overhead_ms": overhead}, calibration=calibration)
    return t, key


@pytest.mark.parametrize("latency", [0.0, -0.2, float("nan"), float("inf")])
def test_non_positive_part_cost_names_the_part_and_the_table(latency):
    t, key = _table(latency)
    with pytest.raises(TndError, match=r"part sep_conv_3x3\|cin=8.*a cost must be positive") as e:
        NetworkEstimate(t).predict([key])
    assert t.name() in str(e.value)


def test_calibration_that_goes_negative_is_refused():
    fit = {"kind": "grouped-linear/1", "coef": {g: 1.0 for g in GROUP_ORDER}, "intercept": -5.0}
    t, key = _table(0.2, calibration={"fit": fit})
    with pytest.raises(TndError, match="calibration gives"):
        NetworkEstimate(t).predict([key])
    assert NetworkEstimate(t, calibrated=False).predict([key])["latency"] == pytest.approx(0.2)
