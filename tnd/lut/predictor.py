"""A regression predictor for parts the table lacks, stored as plain numbers in the table's JSON.

Log-latency (and log-energy) is fitted by scikit-learn's ridge regression on op features: op type
(one-hot), and per op type the log of FLOPs, params, bytes moved and resolution, plus stride. A
linear model in log space extrapolates sanely to unseen widths, and its parameters are a few numbers
that load without executing code (a pickled forest would not, and breaks across sklearn versions).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tnd.errors import TndError
from tnd.space.parts import PartKey, parse_key, part_flops, part_output_size, part_params

KIND = "ridge-log/1"
NUMERIC = ("log_flops", "log_params", "log_bytes", "log_hw", "stride2")


def numeric_features(key: PartKey, batch: int) -> list[float]:
    out_hw = part_output_size(key) ** 2
    c_out = key.c_out if key.op != "concat" else key.c_out
    bytes_moved = 4 * batch * (key.n_inputs * key.c_in * key.h * key.w + c_out * out_hw) + 4 * part_params(key)
    return [math.log1p(part_flops(key) * batch), math.log1p(part_params(key)), math.log(bytes_moved),
            math.log(key.h * key.w), float(key.stride == 2)]


def design_row(key: PartKey, ops: list[str], batch: int) -> np.ndarray:
    """One-hot op, then the numeric features once globally and once per op (an op-specific slope)."""
    num = numeric_features(key, batch)
    onehot = [float(key.op == o) for o in ops]
    per_op = [h * v for h in onehot for v in num]
    return np.array(onehot + num + per_op)


def _fit_one(X: np.ndarray, y: np.ndarray, seed: int, holdout: float, offset: float = 0.0) -> dict[str, Any]:
    """Ridge on log(y - offset): the offset (most of the runtime's per-call overhead) is a constant that a
    log-linear model in op size cannot express, and small parts are mostly that constant."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    def fit(Xa: np.ndarray, ya: np.ndarray) -> tuple[StandardScaler, Ridge]:
        scaler = StandardScaler().fit(Xa)
        return scaler, Ridge(alpha=1e-2).fit(scaler.transform(Xa), np.log(ya - offset))

    held: dict[str, Any] = {"n": 0, "mape": None, "within_10pct": None}
    if len(y) >= 10:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=holdout, random_state=seed)
        scaler, model = fit(Xtr, ytr)
        pred = np.exp(model.predict(scaler.transform(Xte))) + offset
        err = np.abs(pred - yte) / yte
        held = {"n": int(len(yte)), "mape": float(err.mean()), "within_10pct": float((err <= 0.10).mean())}
    scaler, model = fit(X, y)  # the stored model uses every entry; the error above is from the held-out split
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return {"mean": scaler.mean_.tolist(), "scale": scale.tolist(), "coef": model.coef_.tolist(),
            "intercept": float(model.intercept_), "offset": offset, "holdout": held}


def fit_predictor(table: Any, seed: int = 0, holdout: float = 0.2) -> dict[str, Any]:
    """Fit latency (and energy where the table has it) over the table's entries."""
    batch = int(table.settings["batch_size"])
    keys = sorted(parse_key(k) for k in table.entries)  # the held-out split must not depend on file order
    if len(keys) < 5:
        raise TndError(f"{table.name()}: {len(keys)} entries are too few to fit a predictor (need 5+)")
    ops = sorted({k.op for k in keys})
    X = np.stack([design_row(k, ops, batch) for k in keys])
    latency = np.array([table.latency_ms(k) for k in keys])
    offsets = {"latency_ms": min(0.9 * table.call_overhead_ms, 0.9 * float(latency.min()))}
    targets = {"latency_ms": latency}
    energies = [table.energy_mj(k) for k in keys]
    if all(e is not None for e in energies):
        targets["energy_mj"] = np.array(energies)
        # The smallest part's energy is mostly the call's own, in the same share as its latency.
        share = min(table.call_overhead_ms / float(latency.min()), 1.0)
        offsets["energy_mj"] = 0.9 * share * float(targets["energy_mj"].min())
    return {"kind": KIND, "ops": ops, "batch_size": batch, "features": list(NUMERIC),
            "energy_is_estimate": bool(table.settings.get("energy_is_estimate")),
            "targets": {name: _fit_one(X, y, seed, holdout, offsets.get(name, 0.0)) for name, y in targets.items()}}


class Predictor:
    """Reads a stored predictor back; predicts a part's latency (ms) or energy (mJ)."""

    def __init__(self, params: dict[str, Any], where: str = "lookup table"):
        if not isinstance(params, dict) or params.get("kind") != KIND:
            raise TndError(f"{where}: predictor kind {params.get('kind') if isinstance(params, dict) else None!r} "
                           f"is not {KIND!r}; refit it with tools/build_lut.py --resume --fit-predictor")
        self.params, self.ops, self.batch = params, list(params["ops"]), int(params["batch_size"])

    def covers(self, key: PartKey, target: str = "latency_ms") -> bool:
        return key.op in self.ops and target in self.params["targets"]

    def predict(self, key: PartKey, target: str = "latency_ms") -> float:
        if not self.covers(key, target):
            raise KeyError(f"predictor has no {target} model for op {key.op!r}")
        t = self.params["targets"][target]
        x = (design_row(key, self.ops, self.batch) - np.array(t["mean"])) / np.array(t["scale"])
        return float(math.exp(float(x @ np.array(t["coef"])) + t["intercept"])) + float(t.get("offset", 0.0))

    def holdout(self, target: str = "latency_ms") -> dict[str, Any]:
        return self.params["targets"][target]["holdout"]
