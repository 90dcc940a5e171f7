"""Rows of a seeded config carried over from an earlier run of the same command, whose run
directories are gone (a new machine, a new session): a release of three seeds costs more CPU
hours than one sitting has, and only the committed results folder outlives it.

After every row the harness writes ``RESULTS/<protocol>/seedN/<protocol>-carried.json``: each
scored row's table fields, its per-episode test accuracies (for paired differences with rows
scored later), the SHA-256 of its weights and of the fixed episodes, and a key of what
decides it (its config entry, those of the rows it starts from or scores, the protocol, the
config's training settings, data roots and seed; not the code, whose commit each row names). A
later run takes a row whose key is unchanged as it is: it is neither trained nor scored again,
and the test ledger gets no new line. A carried row is trained again (not scored) only when a row
still to come needs its weights (``from``, ``of``, ``ensemble``); a retrained checkpoint that
differs from the scored one is reported.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import torch

from episodes import atomic_open
from fewshot_fer.weights import load_checkpoint

from .score_cache import file_sha256


def carried_file(results: Path, protocol: dict[str, Any]) -> Path:
    return results / f"{protocol['name']}-carried.json"


def depends_on(spec: dict[str, Any]) -> list[str]:
    """The rows whose weights ``spec`` needs: the one it starts from, scores, or votes with."""
    return [n for n in (spec.get("from"), spec.get("of")) if n] + list(spec.get("ensemble") or [])


def row_keys(specs: list[dict[str, Any]], protocol: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
    """A fingerprint per row name of everything but the code that decides its figures."""
    public = lambda d: {k: v for k, v in d.items() if not str(k).startswith("_")}  # noqa: E731
    base = {"protocol": public(protocol), "training": public(protocol.get("_training") or {}),
            "train": config.get("train"), "data_roots": config.get("data_roots"),
            "keep_duplicates": bool(config.get("keep_duplicates")), "seed": config.get("_seed")}
    keys: dict[str, str] = {}
    for spec in specs:
        text = json.dumps({**base, "spec": spec, "after": [keys.get(n) for n in depends_on(spec)]},
                          sort_keys=True, default=str)
        keys[spec["name"]] = hashlib.sha256(text.encode()).hexdigest()
    return keys


def load_carried(results: Path, protocol: dict[str, Any], keys: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The rows of an earlier run kept in ``results`` whose key is unchanged, by name."""
    path = carried_file(results, protocol)
    if not path.is_file():
        return {}
    try:
        records = json.loads(path.read_text())["rows"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: expected the harness's record of carried rows ({e}); remove it to score the "
                         f"rows again.") from None
    return {name: r for name, r in records.items() if keys.get(name) == r.get("key")}


def carried_row(record: dict[str, Any]) -> dict[str, Any]:
    """A table row from its record, ``_accs`` as the tensor paired differences take."""
    return {**record["row"], "_accs": torch.tensor(record["accs"], dtype=torch.float64)}


def still_needed(specs: list[dict[str, Any]], done: set[str]) -> set[str]:
    """Rows whose weights a row not yet ``done`` needs, directly or through a chain of them."""
    needed: set[str] = set()
    for spec in reversed(specs):
        if spec["name"] not in done or spec["name"] in needed:
            needed.update(depends_on(spec))
    return needed


def checkpoint_digest(checkpoint: Path | list[Path]) -> list[str]:
    """SHA-256 of each checkpoint's weights (names and values; a checkpoint file also holds its run
    folder, date and timing, which differ between two trainings of the same weights)."""
    digests = []
    for path in checkpoint if isinstance(checkpoint, list) else [checkpoint]:
        digest = hashlib.sha256()
        for name, tensor in sorted(load_checkpoint(path)["model"].items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        digests.append(digest.hexdigest())
    return digests


def save_carried(results: Path, protocol: dict[str, Any], records: dict[str, dict[str, Any]]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    with atomic_open(carried_file(results, protocol)) as f:
        json.dump({"rows": records}, f, default=float)


def record(row: dict[str, Any], key: str, checkpoint: Path | list[Path], episodes_file: Path) -> dict[str, Any]:
    """What carries ``row`` over: its fields, per-episode accuracies (6 decimals), fingerprints."""
    return {"key": key, "row": {k: v for k, v in row.items() if k != "_accs"},
            "accs": [round(float(a), 6) for a in row["_accs"]], "checkpoint_sha256": checkpoint_digest(checkpoint),
            "episodes_sha256": file_sha256(episodes_file) if episodes_file.is_file() else None}


def check_same_episodes(records: Iterable[dict[str, Any]], episodes_file: Path, where: Path) -> None:
    """Rows carried over and rows scored now must share the fixed episodes (paired differences)."""
    if not episodes_file.is_file():
        return
    now = file_sha256(episodes_file)
    for r in records:
        if r.get("episodes_sha256") not in (None, now):
            raise ValueError(f"{episodes_file} differs from the episodes the rows carried in {where} were scored on; "
                             f"remove {where} to score every row again.")
