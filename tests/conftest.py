"""Shared test fixtures and markers."""
import os

import numpy as np
import pytest
from hypothesis import settings

import tinygrad_img as tg

# CI draws the same hypothesis examples every run (a red CI must be reproducible);
# HYPOTHESIS_PROFILE=explore draws fresh ones locally.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs CuPy and an NVIDIA GPU (skipped otherwise)")
    config.addinivalue_line("markers", "slow: train-to-threshold and other multi-second tests")


def pytest_collection_modifyitems(config, items):
    if tg.cuda_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU; none available here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    tg.manual_seed(0)
    np.random.seed(0)
    yield
