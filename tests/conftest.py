import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if "FEWSHOT_FER_SHARED_DATA" in os.environ:
    SHARED_DATA = Path(os.environ["FEWSHOT_FER_SHARED_DATA"])


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory, worker_id):
    # under xdist each worker's base folder is popen-gwN inside the run's own folder: share that one
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if worker_id != "master" else base) / "default-cache"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _private_cache(_session_cache, monkeypatch):
    # Loads without --cache-dir must never fill the user's real cache folder. One folder for the
    # session, shared by its xdist workers (the cache writes atomically): the built-in synthetic
    # faces are rendered once and read back by every later test and command the session starts.
    monkeypatch.setenv("FEWSHOT_FER_CACHE", str(_session_cache))


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
