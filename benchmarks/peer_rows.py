"""Rows of another toolkit in the harness's tables: ``{name: easyfsl, peer: easyfsl}`` trains
easyfsl 1.5's ``PrototypicalNetworks`` as easyfsl documents it (``duel_peer.py``: its own sampler,
transforms and loop) on the protocol's training classes, for as many episodes as the config's
episodic rows get (``epochs`` x ``episodes_per_epoch``), and scores its final model on the
protocol's fixed test episodes, the same faces the other rows see (exact copies of training faces
left out unless ``keep_duplicates``). So the duel against easyfsl is a config of
``benchmarks.run``, with seeds, paired differences and budgets like any other row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from episodes import FixedEpisodes, atomic_open, mean_ci95
from fewshot_fer.data import create_dataset
from fewshot_fer.data.catalog import dataset_splits, near_threshold
from fewshot_fer.data.duplicates import leave_out_copies
from fewshot_fer.training.recipes import EpisodicRecipe
from fewshot_fer.training.rundir import git_commit, write_csv

from .duel_peer import score_peer, train_peer
from .protocol import protocol_settings, training_name
from .run_records import ATTEMPTS, AttemptClock, cpu_minutes

PEERS = ("easyfsl",)


def check_peer(spec: dict[str, Any], protocol: dict[str, Any], config: dict[str, Any], roots: dict[str, str]) -> Path:
    """The FER2013 folder the peer reads; a sentence for a peer, dataset or input it cannot train on."""
    if spec["peer"] not in PEERS:
        raise ValueError(f"model {spec['name']!r}: peer must be one of {', '.join(PEERS)}, got {spec['peer']!r}.")
    settings = protocol_settings(protocol, config)
    if protocol["source"]["dataset"] != "fer2013" or "fer2013" not in roots:
        raise ValueError(f"model {spec['name']!r}: the easyfsl peer reads FER2013 image folders; protocol "
                         f"{protocol['name']!r} trains on {protocol['source']['dataset']} (give data_roots: "
                         f"{{fer2013: ...}} and a FER2013 protocol).")
    if (settings.get("image_size", 48), settings.get("channels", 1)) != (48, 1):
        raise ValueError(f"model {spec['name']!r}: the easyfsl peer reads 48 px grey faces, not "
                         f"{settings.get('image_size')} px with {settings.get('channels')} channel(s).")
    return Path(roots["fer2013"])


def train_peer_row(spec: dict[str, Any], protocol: dict[str, Any], config: dict[str, Any], roots: dict[str, str],
                   out: Path) -> tuple[Path, dict[str, Any]]:
    """Train the peer (or reuse its finished run); its folder and its row's budget columns."""
    root = check_peer(spec, protocol, config, roots)
    settings = protocol_settings(protocol, config)
    defaults = EpisodicRecipe.build().settings()
    episodes = (settings.get("epochs", defaults["epochs"]) *
                settings.get("episodes_per_epoch", defaults["episodes_per_epoch"]))
    t = protocol["train"]
    job = {"root": str(root), "classes": list(protocol["source"]["classes"]), "way": t["way"], "shot": t["shot"],
           "query": t["query"], "episodes": episodes, "seed": settings.get("seed", 0)}
    run_dir = out / f"{training_name(protocol)}-{spec['name'].replace(' ', '-')}"
    done = run_dir / "harness.json"
    if not done.is_file() or json.loads(done.read_text()).get("job") != job:
        run_dir.mkdir(parents=True, exist_ok=True)
        with AttemptClock(run_dir / ATTEMPTS, []) as clock:
            train_peer({**job, "out": run_dir / "peer.pt"})
        with atomic_open(done) as f:
            json.dump({**clock.totals(), "job": job, "commit": git_commit()}, f)
        (run_dir / ATTEMPTS).unlink(missing_ok=True)
    record = json.loads(done.read_text())
    faces = episodes * t["way"] * (t["shot"] + t["query"])
    return run_dir, {"stages": f"easyfsl 1.5 PrototypicalNetworks, {episodes} episodes, final model",
                     "faces_seen": faces, "cpu_minutes": round(cpu_minutes(run_dir), 3), "commit": record["commit"],
                     "backbone": "conv4 (easyfsl)"}


def score_peer_row(protocol: dict[str, Any], run_dir: Path, roots: dict[str, str], episodes_file: Path,
                   result_dir: Path, keep_duplicates: bool) -> dict[str, Any]:
    """The peer's figures on the protocol's fixed test episodes (``episodes_file``, drawn by the
    rows scored before it), with ``episodes.csv`` in ``result_dir`` for the paired differences."""
    target, ev = protocol["target"], protocol["eval"]
    name = target["dataset"]
    load = lambda split, classes=None: create_dataset(name, split, roots.get(name), 48, 1, classes=classes)  # noqa: E731
    faces = load(target["split"], target.get("classes"))
    left_out = 0
    if not keep_duplicates:
        copies = leave_out_copies(faces, load, dataset_splits(name), near_threshold(name))
        faces, left_out = copies.kept, copies.left_out
    if not episodes_file.is_file():
        raise ValueError(f"protocol {protocol['name']!r}: the peer is scored on the fixed episodes the rows before it "
                         f"drew ({episodes_file}); list a fewshot-fer row (or the untrained floor) before it.")
    fixed = FixedEpisodes.load(episodes_file)
    accuracies = score_peer(run_dir / "peer.pt", faces.images, faces.labels, fixed.indices(faces.keys),
                            ev["way"], ev["shot"], fixed.n_query)
    result_dir.mkdir(parents=True, exist_ok=True)
    write_csv(result_dir / "episodes.csv", [{"shot": ev["shot"], "episode": e, "accuracy": float(a)}
                                            for e, a in enumerate(accuracies)])
    accuracy, ci = mean_ci95(accuracies)
    return {"scored_on": git_commit(), "accuracy": accuracy, "ci95": ci, "face_boot_low": "", "face_boot_high": "",
            "group_boot_low": "", "group_boot_high": "", "episodes": len(accuracies),
            "query": fixed.n_query, "duplicates_left_out": left_out, "clip_accuracy": "", "clip_ci95": ""}
