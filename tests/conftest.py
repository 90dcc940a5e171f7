import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if "FEWSHOT_FER_SHARED_DATA" in os.environ:
    SHARED_DATA = Path(os.environ["FEWSHOT_FER_SHARED_DATA"])


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    # Loads without --cache-dir must never fill the user's real cache folder.
    monkeypatch.setenv("FEWSHOT_FER_CACHE", str(tmp_path_factory.mktemp("default-cache")))


@pytest.fixture(autouse=True)
def _threads():
    # Small tensors: extra threads only add overhead on CI's 2 cores.
    torch.set_num_threads(1)
    yield


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set FEWSHOT_FER_SHARED_DATA to its folder)")
    return path
