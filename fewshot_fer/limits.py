"""Upper bounds of every number that sizes work, checked before the work starts, so a typo
(``--val-episodes 1000000000``, ``--image-size 5000``) is a sentence, not a silent hang.

Each bound is far above any real use on one machine; a flag, a YAML key and a model folder's
``config.json`` are checked against the same table.
"""

from __future__ import annotations

from typing import Any, Mapping

MAX_EPISODES = 100_000  # episodes of one evaluation, validation or calibration
SIZE_LIMITS: dict[str, int] = {
    "epochs": 10_000, "episodes_per_epoch": 1_000_000, "episodes": MAX_EPISODES, "val_episodes": MAX_EPISODES,
    "calibration_episodes": MAX_EPISODES, "image_size": 1024, "batch_size": 65_536, "way": 1000, "shot": 1000,
    "query": 1000, "val_way": 1000, "val_shot": 1000, "val_query": 1000, "clip_frames": 1000, "peak_frames": 1000,
    "mc_passes": 1000, "rounds": 1000, "round_epochs": 10_000, "workers": 256, "ensemble": 100,
    "seed": 2**32 - 1,  # NumPy's and Python's generators take seeds below 2**32
}
AT_LEAST_ZERO = ("seed", "workers")


def check_limits(settings: Mapping[str, Any], flag: str = "--{}") -> None:
    """Refuse a setting above its bound in ``SIZE_LIMITS`` (or a negative seed or worker count)
    with one sentence naming it (``flag`` formats the name: ``--{}`` for flags, ``{}`` for keys)."""
    for key, limit in SIZE_LIMITS.items():
        value = settings.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        name = flag.format(key.replace("_", "-") if flag.startswith("--") else key)
        if key in AT_LEAST_ZERO and value < 0:
            raise ValueError(f"{name} must be from 0 to {limit:,}, got {value}.")
        if value > limit:
            raise ValueError(f"{name} must be at most {limit:,}, got {value:,}.")
