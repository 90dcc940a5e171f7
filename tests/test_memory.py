import sys

import pytest

from fewshot_fer.training.memory import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_keep_freed_memory_applies_on_glibc_and_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("FEWSHOT_FER_MALLOC", "default")
    assert keep_freed_memory() is False
    monkeypatch.delenv("FEWSHOT_FER_MALLOC")
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # idempotent
