"""Shared fixtures: the digits data (loaded once) and single-threaded torch for small, timing-stable tests."""

import os
import tempfile
from pathlib import Path

import pytest
import torch

# Tests see only the presets and tables shipped with tnd, never the user's own (~/.config/tnd): an empty
# user folder, set before collection (some tests are parametrised over the presets).
os.environ["TND_PRESETS"] = tempfile.mkdtemp(prefix="tnd-test-presets-")


@pytest.fixture(scope="session")
def digits():
    from tnd.data import load_dataset

    return load_dataset("digits", seed=0)


@pytest.fixture(scope="module")
def single_thread():
    """Tiny networks gain nothing from intra-op threads and lose a lot to them on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# The NB201 ground truth lives beside the checkout (../shared), never in the repository.
NB201_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201" / "nb201_val_latency.csv.gz"


@pytest.fixture(scope="session")
def nb201_bench():
    """benchmarks/bench_nb201.py as a module, for tests on the shared NB201 table (skipped where it is absent)."""
    import importlib.util
    import sys

    if not NB201_DATA.is_file():  # the benchmark's DATA is the same path
        pytest.skip(f"{NB201_DATA} absent (NB201 test data is kept outside the repo)")
    spec = importlib.util.spec_from_file_location(
        "bench_nb201", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_nb201.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_nb201", bench)  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    return bench
