"""`tnd bench`: an exported model measured on the CPU, beside the lookup table's prediction."""

import json

import pytest
import torch

from tnd import build_network, export_onnx
from tnd.cli.main import main
from tnd.lut.estimate import NetworkEstimate
from tnd.lut.table import LookupTable
from tnd.space import Architecture
from tnd.space.parts import network_parts
from tnd.space.plan import NetworkShape
from tnd.space.published import published_genotype

pytestmark = pytest.mark.usefixtures("single_thread")
SHAPE = NetworkShape(channels=8, layers=5, num_classes=10, in_channels=1, input_size=8)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    g = published_genotype("DARTS_V2")
    net = build_network(g, SHAPE.channels, SHAPE.layers, SHAPE.num_classes, in_channels=1, input_size=8).eval()
    path = tmp_path_factory.mktemp("bench") / "model.onnx"
    export_onnx(net, path, metadata={"genotype": g.to_dict()})
    return path, g


def table_for(g, path) -> LookupTable:
    entries = {str(k): {"latency_ms": {"median": 0.01, "p10": 0.01, "p90": 0.01, "n": 1}, "energy_mj": None,
                        "flops": 0, "params": 0}
               for k in network_parts(Architecture.from_genotype(g), SHAPE)}
    t = LookupTable(device={"preset": "cpu"}, runtime={"provider": "CPUExecutionProvider", "threads": 1},
                    settings={"batch_size": 1, "dtype": "float32", "warmup": 1, "repeats": 1,
                              "energy_method": "none", "call_overhead_ms": 0.005}, entries=entries)
    t.save(path)
    return t


def test_bench_prints_measurement_beside_prediction(model, tmp_path, capsys):
    path, g = model
    table = table_for(g, tmp_path / "cpu.json")
    out = tmp_path / "bench.json"
    assert main(["bench", str(path), "--device", "cpu", "--lut", str(tmp_path / "cpu.json"), "--repeats", "30",
                 "--warmup", "5", "--energy", "none", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "measured latency" in text and "LUT prediction" in text and "x measured" in text
    r = json.loads(out.read_text())
    assert r["provider"] == "CPUExecutionProvider" and r["latency_ms"]["median"] > 0
    expected = NetworkEstimate(table).totals(network_parts(Architecture.from_genotype(g), SHAPE))["latency"]
    assert r["prediction"]["latency_ms_raw"] == pytest.approx(expected)
    assert r["prediction"]["latency_ms_calibrated"] is None


def test_bench_labels_cpu_energy_as_an_estimate(model, capsys):
    path, _ = model
    assert main(["bench", str(path), "--device", "cpu", "--no-lut", "--repeats", "20", "--warmup", "2"]) == 0
    text = capsys.readouterr().out
    assert "LUT prediction" not in text
    if "energy" in text:  # RAPL-less machines: the only figure is a TDP estimate, and it says so
        assert "ESTIMATE" in text or "rapl" in text


def test_bench_errors_are_one_line(model, tmp_path, capsys):
    path, _ = model
    assert main(["bench", str(tmp_path / "missing.onnx")]) == 2
    assert "not found" in capsys.readouterr().err
    batch8 = tmp_path / "b8.json"
    table_for(published_genotype("DARTS_V2"), batch8)
    data = json.loads(batch8.read_text())
    data["settings"]["batch_size"] = 8
    batch8.write_text(json.dumps(data))
    assert main(["bench", str(path), "--lut", str(batch8), "--repeats", "5", "--energy", "none"]) == 2
    err = capsys.readouterr().err
    assert "batch 8" in err and len(err.strip().splitlines()) == 1
