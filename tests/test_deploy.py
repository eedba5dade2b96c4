"""Deployment: ONNX export verified against PyTorch, checkpoints, resumable training, genotype refs, CLI."""

import json
import random
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch

from tnd.cli.main import main
from tnd.deploy import (ExportReport, TrainConfig, export_onnx, load_checkpoint, model_from_checkpoint,
                        read_metadata, resolve_genotype, save_checkpoint, train)
from tnd.deploy.train import load_train_config, train_step
from tnd.errors import TndError
from tnd.result_file import RESULT_FORMAT
from tnd.space import Genotype, build_network, count_parameters, published_genotype
from tnd.space.genotype import random_genotype

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"progress": False, "echo": lambda s: None}
# Small, but with every random source live: cutout, auxiliary head, drop-path, shuffling, augmentation.
TINY = dict(dataset="digits", layers=5, channels=8, epochs=2, batch_size=32, lr=0.05, cutout=True,
            cutout_length=4, auxiliary=True, drop_path_prob=0.2, max_steps_per_epoch=3)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits):
    """One uninterrupted tiny run, shared by the checkpoint, resume and export tests."""
    out = tmp_path_factory.mktemp("full")
    g = published_genotype("DARTS_V2")
    result = train(g, TrainConfig(**TINY), out, data=digits, source="DARTS_V2", **QUIET)
    return out, g, result


# ---- export -------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_export_random_genotype_matches_pytorch(tmp_path, seed):
    g = random_genotype(random.Random(seed))
    torch.manual_seed(seed)
    model = build_network(g, channels=8, layers=5, input_size=16)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so eval mode really uses them
        model.train()
        model.drop_path_prob = 0.3
        model(torch.randn(8, 3, 16, 16) * 2 + 0.5)
    path = tmp_path / "m.onnx"
    report = export_onnx(model, path, metadata={"genotype": g.to_dict(), "test_accuracy": 0.5})
    assert isinstance(report, ExportReport) and report.path == path and report.opset == 17
    assert set(report.max_abs_diff) == {1, 4}
    assert all(0.0 <= d <= 1e-4 for d in report.max_abs_diff.values()), report.max_abs_diff
    assert model.training and model.drop_path_prob == 0.3, "export must not change the caller's model"

    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"

    meta = read_metadata(path)
    assert Genotype.from_dict(meta["genotype"]) == g
    assert meta["test_accuracy"] == 0.5 and meta["input_shape"] == [3, 16, 16]
    assert meta["params"] == count_parameters(model)
    assert meta["shape"]["layers"] == 5 and meta["tnd_version"]


def test_export_beyond_tolerance_writes_nothing(tmp_path, monkeypatch):
    import tnd.deploy.export as export

    monkeypatch.setattr(export, "_verify", lambda *a, **k: {1: 0.0, 4: 0.5})
    model = build_network(random_genotype(random.Random(3)), channels=8, layers=5, input_size=16)
    with pytest.raises(TndError, match=r"0\.5 at batch 4.*not written"):
        export_onnx(model, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_rejects_bad_settings(tmp_path):
    model = build_network(random_genotype(random.Random(4)), channels=8, layers=5, input_size=16)
    with pytest.raises(TndError, match="opset"):
        export_onnx(model, tmp_path / "m.onnx", opset=30)
    with pytest.raises(TndError, match="input_shape"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "m.onnx")
    with pytest.raises(TndError, match="not found"):
        read_metadata(tmp_path / "missing.onnx")
    assert list(tmp_path.iterdir()) == []


# ---- training -----------------------------------------------------------------------------------

def test_darts_v2_trains_one_step():
    torch.manual_seed(0)
    cfg = TrainConfig()  # DARTS protocol: auxiliary head, drop-path, clipping
    model = build_network(published_genotype("DARTS_V2"), channels=8, layers=8, auxiliary=True, input_size=16)
    model.train()
    model.drop_path_prob = cfg.drop_path_prob
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss, correct = train_step(model, torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3]), optimizer, cfg)
    assert torch.isfinite(torch.tensor(loss)) and loss > 0 and 0 <= correct <= 4
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("cells.") and k.endswith("weight") for k in changed)
    assert any(k.startswith("auxiliary_head.") for k in changed), "the auxiliary loss must reach its head"


def test_resumed_training_equals_uninterrupted(tmp_path, digits, trained):
    full_dir, g, full = trained
    cut = tmp_path / "cut"
    assert train(g, TrainConfig(**TINY), cut, data=digits, stop_after_epochs=1, **QUIET) is None
    assert load_checkpoint(cut / "checkpoint.pt")["epoch"] == 1 and not (cut / "train.json").exists()
    resumed = train(g, TrainConfig(**TINY), cut, resume=True, data=digits, **QUIET)

    a = load_checkpoint(full_dir / "checkpoint.pt")["model"]
    b = load_checkpoint(cut / "checkpoint.pt")["model"]
    assert a.keys() == b.keys() and any(k.startswith("auxiliary_head.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert resumed["test_accuracy"] == full["test_accuracy"]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]
    assert [h["drop_path_prob"] for h in full["history"]] == [0.0, 0.1]
    # log.jsonl: one record per epoch as it goes; a resumed run's log is the uninterrupted run's.
    logs = [[json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()] for d in (full_dir, cut)]
    assert [r["epoch"] for r in logs[0]] == [1, 2] and logs[0] == full["history"]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in logs[1]] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in logs[0]]


def test_train_json_and_resume_errors(tmp_path, digits, trained):
    full_dir, g, full = trained
    saved = json.loads((full_dir / "train.json").read_text())
    assert saved["params"] == full["params"] and saved["params_M"] == pytest.approx(full["params"] / 1e6)
    no_aux = build_network(g, channels=8, layers=5, num_classes=10, in_channels=1, input_size=8)
    assert saved["params"] == count_parameters(no_aux), "params exclude the auxiliary head, as DARTS counts"
    assert 0.0 <= saved["test_accuracy"] <= 1.0 and saved["epochs"] == 2 and saved["seconds"] > 0
    assert Genotype.from_dict(saved["genotype"]) == g and saved["config"]["lr"] == 0.05

    # --resume on a folder with no run yet starts it (one command for the first start and every requeue)
    started = train(g, TrainConfig(**TINY), tmp_path / "empty", resume=True, data=digits, **QUIET)
    assert started["test_accuracy"] == full["test_accuracy"]
    (tmp_path / "empty" / "checkpoint.pt").unlink()
    with pytest.raises(TndError, match="nothing to resume"):
        train(g, TrainConfig(**TINY), tmp_path / "empty", resume=True, data=digits, **QUIET)
    with pytest.raises(TndError, match="already holds"):
        train(g, TrainConfig(**TINY), full_dir, data=digits, **QUIET)
    with pytest.raises(TndError, match=r"lr: 0\.05 -> 0\.1"):
        train(g, TrainConfig(**{**TINY, "lr": 0.1}), full_dir, resume=True, data=digits, **QUIET)
    with pytest.raises(TndError, match="different genotype"):
        train(published_genotype("PDARTS"), TrainConfig(**TINY), full_dir, resume=True, data=digits, **QUIET)


def test_train_config_validation_and_presets():
    with pytest.raises(TndError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(TndError, match="drop_path_prob"):
        TrainConfig(drop_path_prob=1.5)
    with pytest.raises(TndError, match="unknown setting"):
        load_train_config(None, {"learning_rate": 0.1})
    assert load_train_config(ROOT / "configs/train/cifar10.yaml") == TrainConfig(data_dir="data")
    d = load_train_config(ROOT / "configs/train/digits.yaml", {"epochs": 3})
    assert (d.dataset, d.channels, d.layers, d.epochs, d.cutout, d.auxiliary, d.drop_path_prob) == \
        ("digits", 16, 8, 3, False, False, 0.0)


# ---- checkpoints --------------------------------------------------------------------------------

def test_checkpoint_errors_name_the_file(tmp_path, trained):
    full_dir, _, _ = trained
    truncated = tmp_path / "truncated.pt"
    data = (full_dir / "checkpoint.pt").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(TndError, match=r"truncated\.pt is truncated or corrupt"):
        load_checkpoint(truncated)

    foreign = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, foreign)
    with pytest.raises(TndError, match=r"weights\.pt is not a tnd checkpoint"):
        load_checkpoint(foreign)

    pickled = tmp_path / "object.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, pickled)  # a whole module: refused by weights_only
    with pytest.raises(TndError, match=r"object\.pt is not a tnd checkpoint"):
        load_checkpoint(pickled)
    with pytest.raises(TndError, match=r"missing\.pt not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_round_trip_and_inference_model(tmp_path, trained):
    full_dir, g, full = trained
    ckpt = load_checkpoint(full_dir / "checkpoint.pt")
    assert ckpt["format"] == "tnd-checkpoint/1" and ckpt["epoch"] == 2 and ckpt["dataset"] == "digits"
    assert ckpt["metrics"]["test_accuracy"] == full["test_accuracy"]
    model = model_from_checkpoint(ckpt)
    assert not model.training and model.auxiliary_head is None
    reference = build_network(g, channels=8, layers=5, auxiliary=True, in_channels=1, input_size=8)
    reference.load_state_dict(ckpt["model"])
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), reference.eval()(x))

    copy = tmp_path / "copy.pt"
    save_checkpoint(copy, ckpt)
    again = load_checkpoint(copy)
    assert again["genotype"] == ckpt["genotype"] and again["shape"] == ckpt["shape"]

    report = export_onnx(full_dir / "checkpoint.pt", tmp_path / "m.onnx")
    assert report.input_shape == (1, 8, 8) and max(report.max_abs_diff.values()) <= 1e-4
    meta = read_metadata(tmp_path / "m.onnx")
    assert Genotype.from_dict(meta["genotype"]) == g and meta["dataset"] == "digits"
    assert meta["test_accuracy"] == full["test_accuracy"] and meta["params"] == full["params"]


# ---- genotype references ------------------------------------------------------------------------

def test_resolve_genotype(tmp_path):
    gs = [random_genotype(random.Random(10 + i)) for i in range(3)]
    entries = [{"genotype": g.to_dict(), "preference": {"name": f"p{i}"}, "objectives": {"accuracy": acc}}
               for i, (g, acc) in enumerate(zip(gs, (0.80, 0.95, 0.90)))]
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({"format": RESULT_FORMAT, "genotypes": entries, "pareto": [0, 2]}))

    g, desc = resolve_genotype(f"{run}/result.json:1")
    assert g == gs[1] and "[1]" in desc
    g, desc = resolve_genotype(f"{run}/result.json")
    assert g == gs[2] and "Pareto" in desc, "the most accurate Pareto member, not the most accurate overall"
    assert resolve_genotype(str(run))[0] == gs[2]
    assert resolve_genotype("darts_v2") == (published_genotype("DARTS_V2"), "published genotype DARTS_V2")
    text = tmp_path / "g.txt"
    text.write_text(str(gs[0]))
    assert resolve_genotype(str(text))[0] == gs[0]

    with pytest.raises(TndError, match=r"0\.\.2, not index 7"):
        resolve_genotype(f"{run}/result.json:7")
    with pytest.raises(TndError, match="DARTS_V2.*PDARTS"):
        resolve_genotype("NASNET")
    with pytest.raises(TndError, match="no result.json"):
        resolve_genotype(str(tmp_path))


# ---- CLI ----------------------------------------------------------------------------------------

def test_cli_export_bad_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"definitely not a checkpoint")
    proc = subprocess.run([sys.executable, "-m", "tnd.cli.main", "export", str(bad), "--out", "x.onnx"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tnd: error:") and "bad.pt" in lines[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.onnx").exists()


def test_cli_train_then_export(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--genotype", "darts_v2", "--config", str(ROOT / "configs/train/digits.yaml"),
                 "--layers", "5", "--channels", "8", "--epochs", "1", "--max-steps", "2", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "published genotype DARTS_V2 on digits" in printed and "test accuracy" in printed
    assert (out / "train.json").exists()
    assert main(["export", str(out / "checkpoint.pt"), "--out", str(tmp_path / "m.onnx")]) == 0
    printed = capsys.readouterr().out
    assert "opset 17" in printed and "batch 1: max abs diff" in printed and "batch 4: max abs diff" in printed
    assert main(["train", "--genotype", "NASNET", "--out", str(tmp_path / "other")]) == 2
    assert "NASNET" in capsys.readouterr().err
