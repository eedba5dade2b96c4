"""Logs people can read and tools can plot: a bar only on a terminal, plain lines in a log, JSON records,
and TensorBoard fed the same records."""

import importlib
import io
import json
import sys
import warnings

import pytest

from tnd.deploy import TrainConfig, train
from tnd.errors import TndError
from tnd.progress import Progress
from tnd.sinks import JsonlSink, TensorBoardSink, scalars
from tnd.space import published_genotype

train_module = importlib.import_module("tnd.deploy.train")  # the package's `train` attribute is the function
pytestmark = pytest.mark.usefixtures("single_thread")


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_log_file_there_is_no_bar_only_plain_lines():
    stream, lines = io.StringIO(), []
    with Progress(100, "measuring parts", "entry", stream=stream, echo=lines.append, plain_every=25) as bar:
        assert not bar.is_bar
        for i in range(100):
            bar.update(1, loss=0.5)
        bar.write("a log line")
    assert stream.getvalue() == "", "nothing is redrawn into a log"
    assert [line.split(",")[0] for line in lines] == [f"measuring parts: {n}/100 entrys ({n}%)"
                                                      for n in (25, 50, 75, 100)] + ["a log line"]
    assert "loss 0.5" in lines[0] and "left (estimate)" in lines[0] and "left" not in lines[3]


def test_without_plain_every_only_the_callers_lines_are_printed():
    lines = []
    bar = Progress(10, "train", stream=io.StringIO(), echo=lines.append)
    bar.update(10)
    bar.write("epoch 1/1: loss 0.3")
    bar.close()
    assert lines == ["epoch 1/1: loss 0.3"]


def test_on_a_terminal_there_is_a_bar_and_lines_print_above_it(capsys):
    term, lines = FakeTerminal(), []
    bar = Progress(4, "train", "step", stream=term, echo=lines.append, plain_every=1)
    assert bar.is_bar
    bar.update(2, loss=1.25)
    bar.write("epoch 1/2: loss 1.2500")
    bar.close()
    assert "train" in term.getvalue() and "2/4" in term.getvalue() and "loss=1.25" in term.getvalue()
    assert lines == ["epoch 1/2: loss 1.2500"], "no plain status lines when a bar shows the same"
    disabled = Progress(4, "train", stream=FakeTerminal(), echo=lines.append, enabled=False)
    assert not disabled.is_bar


def test_scalars_flatten_a_record():
    record = {"step": 7, "reward": 0.5, "costs": {"latency_ms": 1.5, "params": 3}, "entropy": [0.1, 0.2],
              "probs": {"normal": {"sep_conv_3x3": 0.25}}, "stage": "warm-up", "frozen": True}
    assert scalars(record) == {"step": 7.0, "reward": 0.5, "costs/latency_ms": 1.5, "costs/params": 3.0,
                               "entropy/0": 0.1, "entropy/1": 0.2, "probs/normal/sep_conv_3x3": 0.25}


class FakeWriter:
    def __init__(self):
        self.scalars, self.closed = [], False

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


def test_tensorboard_sink_writes_the_records_numbers_at_their_step():
    writer = FakeWriter()
    sink = TensorBoardSink("unused", step_key="epoch", writer=writer)
    sink({"epoch": 3, "lr": 0.1, "train_loss": float("nan"), "costs": {"latency_ms": 2.0}})
    sink({"lr": 0.05})                              # no step field: a running count
    sink.close()
    assert writer.scalars == [("lr", 0.1, 3), ("costs/latency_ms", 2.0, 3), ("lr", 0.05, 2)] and writer.closed


def test_tensorboard_missing_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # as if the package were not installed
    with pytest.raises(TndError, match=r"pip install tensorboard"):
        TensorBoardSink(tmp_path / "tb")


def test_jsonl_sink_appends_and_rewrites(tmp_path):
    sink = JsonlSink(tmp_path / "run" / "log.jsonl")
    sink({"epoch": 1})
    sink({"epoch": 2})
    assert (tmp_path / "run" / "log.jsonl").read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    sink.rewrite([{"epoch": 1}])
    assert (tmp_path / "run" / "log.jsonl").read_text() == '{"epoch": 1}\n'


def test_tnd_train_reports_each_epoch_as_it_goes(tmp_path, digits, monkeypatch):
    writer = FakeWriter()
    monkeypatch.setattr(train_module, "TensorBoardSink",
                        lambda log_dir, step_key: TensorBoardSink(log_dir, step_key, writer=writer))
    lines = []
    cfg = TrainConfig(dataset="digits", layers=5, channels=8, epochs=2, batch_size=64, lr=0.05, cutout=False,
                      auxiliary=False, drop_path_prob=0.0, max_steps_per_epoch=4)
    result = train(published_genotype("DARTS_V2"), cfg, tmp_path, data=digits, progress=False,
                   echo=lines.append, tensorboard=tmp_path / "tb")
    assert lines[0].endswith(", float32"), "a CPU trains in float32, whatever the amp setting"
    estimate = [line for line in lines if line.startswith("estimated time")]
    assert len(estimate) == 1 and "for 2 epochs" in estimate[0] and "steps 3-4 of this run" in estimate[0]
    assert "ESTIMATE" in estimate[0]
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert f"loss {result['history'][1]['train_loss']:.4f}" in epochs[1]
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert records == result["history"]
    tags = {(tag, step) for tag, _, step in writer.scalars}
    assert {("train_loss", 1), ("train_accuracy", 2), ("lr", 2), ("val_accuracy", 1)} <= tags and writer.closed


def test_the_estimate_extrapolates_the_measured_steps():
    line = train_module.time_estimate_line(0.25, 521, 600, "steps 3-22 of this run")
    assert line.startswith("estimated time: 21.7 h for 600 epochs (130.2 s/epoch, 250.0 ms/step")
    assert line.endswith("an ESTIMATE)")


def test_amp_and_channels_last_apply_to_cuda_only(monkeypatch):
    import torch

    cpu = train_module.precision_for(TrainConfig(), torch.device("cpu"))
    assert cpu.dtype is None and cpu.scaler is None and not cpu.channels_last and cpu.describe() == "float32"
    # the policy is tnd.compute's: bf16 from compute capability 8.0, fp16 with a GradScaler before it
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (9, 0))
    gpu = train_module.precision_for(TrainConfig(), torch.device("cuda"))
    assert gpu.dtype == torch.bfloat16 and gpu.scaler is None and gpu.channels_last
    assert gpu.describe() == "bf16 mixed precision, channels-last"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (7, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # without CUDA, GradScaler warns that it disables itself
        old = train_module.precision_for(TrainConfig(), torch.device("cuda"))
    assert old.dtype == torch.float16 and old.scaler is not None
    off = train_module.precision_for(TrainConfig(amp=False, channels_last=False), torch.device("cuda"))
    assert off.dtype is None and off.scaler is None and off.describe() == "float32"



def test_tnd_search_prints_one_line_per_epoch_and_feeds_tensorboard(tmp_path, digits, monkeypatch, capsys):
    import tnd.sinks
    from tnd.search.config import load_search_config
    from tnd.search.run import run_search

    writer = FakeWriter()
    monkeypatch.setattr(tnd.sinks, "TensorBoardSink",
                        lambda log_dir, step_key: TensorBoardSink(log_dir, step_key, writer=writer))
    cfg = load_search_config(None, {
        "dataset": "digits", "network": {"channels": 8, "layers": 5},
        "stages": [{"cells": 2, "ops": 8, "epochs": 1, "warmup_epochs": 0},
                   {"cells": 2, "ops": 3, "epochs": 2, "warmup_epochs": 0}],
        "weights": {"lr": 0.1, "steps_per_epoch": 2}, "policy": {"samples": 2, "alpha_every": 1},
        "reward": {"objectives": ["acc", "params"], "targets": {"params": "20k"}},
        "derive": {"evaluate": "supernet"}})
    run_search(cfg, tmp_path / "run", data=digits, progress=True, echo=lambda s: None, tensorboard=tmp_path / "tb")
    out = capsys.readouterr()
    lines = [line for line in out.out.splitlines() if line.startswith("search: ")]
    assert [line.split(" (")[0] for line in lines] == ["search: 1/3 epochs", "search: 2/3 epochs", "search: 3/3 epochs"]
    assert "preference default" in lines[0] and "stage 1/2" in lines[0] and "stage 2/2" in lines[2]
    assert "\r" not in out.out + out.err, "no bar is drawn into a log"
    tags = {(tag, step) for tag, _, step in writer.scalars}
    # epochs count across stages: stage 1 has epoch 0, stage 2 epochs 1 and 2
    assert {("default/epoch/entropy", 0), ("default/epoch/loss", 2), ("default/epoch/reward", 2)} <= tags
    assert any(t.startswith("default/alpha/costs/") for t, _ in tags)
    assert {t for t, _ in tags if t.startswith("default/alpha/")} >= {"default/alpha/reward", "default/alpha/baseline",
                                                                      "default/alpha/accuracy"}
    assert writer.closed
