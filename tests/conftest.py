"""Shared fixtures: the digits data (loaded once) and single-threaded torch for small, timing-stable tests."""

import pytest
import torch


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
