"""`tnd lut validate` pieces that need no hardware: energy checked with the table's own meter."""

import numpy as np
import pytest

import profilers.energy
from profilers.energy import EnergyReading
from tnd.lut.table import LookupTable
from tnd.lut.validate import ValidateRequest, format_report, validate_energy


class ScriptedMeter:
    """Stands in for the NVML meter: each model 'draws' a fixed energy per call."""

    method, is_estimate = "nvml-energy-counter", False

    def __init__(self):
        self.closed = False

    def measure(self, fn, min_window_s=1.0, max_calls=1_000_000):
        return EnergyReading(self.method, total_mj=fn.mj * 10, seconds=min_window_s, calls=10, is_estimate=False)

    def close(self):
        self.closed = True


class Model:
    def __init__(self, mj):
        self.mj = mj


def test_energy_is_validated_with_the_tables_own_meter(monkeypatch):
    meter = ScriptedMeter()
    asked = []
    monkeypatch.setattr(profilers.energy, "make_energy_meter", lambda method: asked.append(method) or meter)
    table = LookupTable(device={}, runtime={}, entries={},
                        settings={"batch_size": 1, "dtype": "float32", "warmup": 1, "repeats": 1,
                                  "energy_method": "nvml-energy-counter", "energy_window_s": 0.5,
                                  "call_overhead_ms": 0.01})
    measured = np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    r = validate_energy(table, [Model(m) for m in measured], 1.1 * measured, ValidateRequest(lut="x"))
    assert asked == ["nvml-energy-counter"] and meter.closed
    assert r["spearman"] == pytest.approx(1.0)
    assert r["mape"] == pytest.approx(0.1)
    assert r["ratio_mean"] == pytest.approx(1.1)
    assert r["measured_mj"] == pytest.approx(measured.tolist())


def test_report_says_when_energy_was_not_validated():
    agree = {"spearman": 0.95, "mape": 0.05, "within_10pct": 0.9, "ratio_mean": 1.0}
    report = {"raw": agree, "calibrated": agree, "retest": {"spearman": 0.99, "mean_change": 0.01},
              "goal": {"met": True}, "fit": {"coef": {"conv": 1.0}, "intercept": 0.0},
              "energy": {"skipped": "tdp-estimate energy is power x time"}}
    assert "energy: not validated (tdp-estimate" in format_report(report)
