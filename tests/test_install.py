"""An installed tnd: presets and the CPU table as package data, user overrides, a light and helpful CLI.

The wheel itself is checked end to end by tools/check_wheel.sh (run by `make test`).
"""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import tnd
from profilers.devices import PRESETS_DIR, available_presets, load_preset
from tnd.cli.main import build_parser, main
from tnd.errors import TndError
from tnd.presets import SHIPPED_DIR, config_path, lut_path, preset_names, table_path

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------- shipped data

def test_the_package_ships_the_repositorys_presets_and_cpu_table():
    """configs/ and lut/ stay the source of truth; the package's data folders show exactly their files."""
    for kind in ("search", "train"):
        repo = sorted((ROOT / "configs" / kind).glob("*.yaml"), key=lambda p: p.stem)
        assert repo and preset_names(kind) == [p.stem for p in repo]
        for p in repo:
            assert (SHIPPED_DIR / kind / p.name).read_bytes() == p.read_bytes()
    assert available_presets() == sorted(p.stem for p in (ROOT / "configs" / "devices").glob("*.yaml"))
    assert (PRESETS_DIR / "h100.yaml").read_bytes() == (ROOT / "configs" / "devices" / "h100.yaml").read_bytes()
    assert (SHIPPED_DIR / "lut" / "cpu.json").read_bytes() == (ROOT / "lut" / "cpu.json").read_bytes()


def test_pyproject_declares_the_shipped_files_as_package_data():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for pattern in data["tnd"]:
        assert list((ROOT / "tnd").glob(pattern)), f"{pattern} matches nothing"
    assert {p.name for p in (ROOT / "profilers").glob(data["profilers"][0])} >= {"cpu.yaml", "h100.yaml"}


# ---------------------------------------------------------------------------- finding presets

def test_config_spec_is_a_path_or_a_preset_name(tmp_path, monkeypatch):
    assert config_path("demo", "search") == SHIPPED_DIR / "search" / "demo.yaml"
    assert config_path("digits", "train") == SHIPPED_DIR / "train" / "digits.yaml"
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: mine\n")
    assert config_path(str(mine), "search") == mine          # an explicit path always works
    with pytest.raises(TndError, match=r"no search preset 'nosuch'; presets: cifar10, .*demo"):
        config_path("nosuch", "search")
    with pytest.raises(TndError, match="config file .*missing.yaml not found.*cifar10, .*demo"):
        config_path(str(tmp_path / "missing.yaml"), "search")


def test_the_users_folder_adds_and_overrides_presets(tmp_path, monkeypatch):
    user = tmp_path / "user"
    (user / "search").mkdir(parents=True)
    (user / "search" / "demo.yaml").write_text("name: my-demo\n")
    (user / "search" / "tiny.yaml").write_text("name: tiny\n")
    (user / "devices").mkdir()
    (user / "devices" / "mygpu.yaml").write_text(
        "kind: gpu\nmatch: [MyGPU]\narchitecture: x\nenergy: nvml-power-sampling\ntdp_w: 100\n"
        "provider: CUDAExecutionProvider\ncompute_capability: '8.0'\n")
    monkeypatch.setenv("TND_PRESETS", str(user))
    assert config_path("demo", "search") == user / "search" / "demo.yaml"
    shipped = [p.stem for p in (ROOT / "configs" / "search").glob("*.yaml")]
    assert preset_names("search") == sorted(shipped + ["tiny"])
    assert "mygpu" in available_presets() and load_preset("mygpu").tdp_w == 100
    assert load_preset("h100").kind == "gpu"                 # shipped ones stay available


def test_lookup_tables_are_found_in_lut_then_the_users_folder_then_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert lut_path("cpu") == SHIPPED_DIR / "lut" / "cpu.json"
    assert lut_path("h100") == Path("lut/h100.json") and not lut_path("h100").exists()
    (tmp_path / "user" / "lut").mkdir(parents=True)
    (tmp_path / "user" / "lut" / "cpu.json").write_text("{}")
    monkeypatch.setenv("TND_PRESETS", str(tmp_path / "user"))
    assert lut_path("cpu") == tmp_path / "user" / "lut" / "cpu.json"
    (tmp_path / "lut").mkdir()
    (tmp_path / "lut" / "cpu.json").write_text("{}")
    assert lut_path("cpu") == Path("lut/cpu.json")
    assert table_path("lut/cpu.json") == Path("lut/cpu.json")
    with pytest.raises(TndError, match="no table for device 'h100'.*tnd lut build --device h100"):
        table_path("h100")
    with pytest.raises(TndError, match="table nowhere/x.json not found"):
        table_path("nowhere/x.json")


def test_lut_show_and_validate_take_the_table_the_same_way(tmp_path, monkeypatch, capsys):
    from tnd.cli.lut import table_from

    monkeypatch.chdir(tmp_path)
    parser = build_parser()
    shipped = str(SHIPPED_DIR / "lut" / "cpu.json")
    for action in ("show", "validate"):
        for argv in ([shipped], ["--lut", shipped], ["cpu"], ["--lut", "cpu"]):
            assert table_from(parser.parse_args(["lut", action, *argv])) == shipped
    assert main(["lut", "show", "--lut", "cpu", "--top", "1"]) == 0
    assert "entries" in capsys.readouterr().out
    assert main(["lut", "show"]) == 2
    assert main(["lut", "show", "cpu", "--lut", str(tmp_path / "other.json")]) == 2
    # Validating writes a calibration into the table: never into the installed package's copy.
    import tnd.lut.validate

    monkeypatch.setattr(tnd.lut.validate, "validate_lut", lambda req: pytest.fail("must refuse before validating"))
    assert main(["lut", "validate", "cpu"]) == 2
    assert "installed with tnd; copy it" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ CLI

def test_importing_the_cli_does_not_import_torch():
    code = ("import sys, tnd, tnd.cli.main as m; m.build_parser(); "
            "print(sorted(k for k in ('torch', 'onnxruntime', 'matplotlib', 'sklearn', 'numpy') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_public_names_load_on_first_use():
    from tnd.deploy.export import export_onnx
    from tnd.space import build_network

    assert tnd.build_network is build_network and tnd.export_onnx is export_onnx
    assert {"build_network", "published_genotype", "Genotype"} <= set(dir(tnd))
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        tnd.nosuch


def test_version_and_python_dash_m(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"tnd {tnd.__version__}"
    out = subprocess.run([sys.executable, "-m", "tnd", "lut", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "build" in out.stdout and "validate" in out.stdout


def _parsers(parser: argparse.ArgumentParser, path: str = "tnd"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_flag_has_a_description_and_help_shows_defaults():
    parsers = dict(_parsers(build_parser()))
    assert {"tnd search", "tnd train", "tnd lut build", "tnd lut validate", "tnd bench"} <= set(parsers)
    missing = [f"{path} {a.option_strings or a.dest}" for path, p in parsers.items() for a in p._actions
               if not isinstance(a, argparse._SubParsersAction) and not (a.help or "").strip()]
    assert missing == []
    assert "(default: 30)" in parsers["tnd lut validate"].format_help()
    assert "(default: 300)" in parsers["tnd bench"].format_help()
    assert "(default: None)" not in "".join(p.format_help() for p in parsers.values())


# ---------------------------------------------------------------------------------- ONNX Runtime

def test_either_onnxruntime_distribution_serves_and_none_is_a_one_line_error(monkeypatch):
    """tnd imports the `onnxruntime` module, which onnxruntime (CPU) and onnxruntime-gpu both provide, and uses
    only what both have; a GPU preset on the CPU-only package asks for onnxruntime-gpu."""
    from profilers.devices import check_stack
    from profilers.errors import ProfilerError
    from profilers.runtime import import_onnxruntime

    assert import_onnxruntime().InferenceSession
    with pytest.raises(ProfilerError, match="has no CUDAExecutionProvider.*install onnxruntime-gpu"):
        check_stack(load_preset("h100"), providers=["AzureExecutionProvider", "CPUExecutionProvider"])
    check_stack(load_preset("cpu"), providers=["AzureExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)   # neither distribution installed
    with pytest.raises(ProfilerError, match=r"onnxruntime is not installed: pip install onnxruntime .*onnxruntime-gpu"):
        import_onnxruntime()
