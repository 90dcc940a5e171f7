"""One protocol's table at one seed, built a row at a time (``ProtocolTable``): each row trained
(``rows.train_stage``) or carried over (``carry.py``), scored on the protocol's fixed episodes and
its deciding validation figure, its test scoring written to the ledger, the table rewritten."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fewshot_fer.training.rundir import git_commit
from fewshot_fer.weights import load_checkpoint

from .carry import (
    carried_file,
    carried_row,
    check_same_episodes,
    checkpoint_digest,
    load_carried,
    record,
    row_keys,
    save_carried,
)
from .ledger import record_scoring
from .peer_rows import score_peer_row, train_peer_row
from .protocol import check_protocol, protocol_settings
from .rows import ensemble_members, model_specs, runs_at_seed, train_stage, untrained_checkpoint, untrained_name
from .run_records import cpu_minutes, faces_seen, selection, trained_on
from .scoring import deciding_validation, score_on_target
from .tables import add_paired_differences, episode_accuracies, write_tables

UNTRAINED = "none (random weights)"  # the stages of a floor row


class ProtocolTable:
    """One protocol's table (at one seed), built a row at a time by ``add``; its files are
    rewritten after every row. ``carry``: rows an earlier run scored are taken from ``results``
    (``carry.py``) rather than trained and scored again."""

    def __init__(self, protocol: dict[str, Any], config: dict[str, Any], out: Path, results: Path,
                 combined: bool = True, carry: bool = False, checked: tuple[list[str], list[str]] | None = None):
        self.protocol, self.config, self.out, self.results, self.combined = protocol, config, out, results, combined
        self.roots = {k: str(v) for k, v in (config.get("data_roots") or {}).items()}
        self.settings = protocol_settings(protocol, config)
        self.shared, self.target_classes = checked or check_protocol(protocol, self.roots,
                                                                     self.settings.get("image_size", 48))
        self.episodes_file = out / "episodes" / f"{protocol['name']}.json"
        self.specs = model_specs(config)
        self.keys = row_keys(self.specs, protocol, config) if carry else {}
        self.carried = load_carried(results, protocol, self.keys) if carry else {}
        self.records: dict[str, dict[str, Any]] = {}  # what carries each row of this table over
        self.rows: list[dict[str, Any]] = []
        self.trained: dict[str, Path] = {}
        self.scored: dict[str, Path] = {}  # each earlier one-checkpoint row's checkpoint, for ``of`` rows

    def add(self, spec: dict[str, Any], needed: set[str] | None = None) -> None:
        """Train (or reuse) and score row ``spec``; a carried row is taken as it is, and trained
        again (not scored) only when its name is in ``needed`` (a row to come needs its weights)."""
        protocol, config, out, roots = self.protocol, self.config, self.out, self.roots
        if not runs_at_seed(spec, config.get("_seed")):
            return
        name, carried = spec["name"], self.carried.get(spec["name"])
        if carried is not None and (needed is None or name not in needed):
            return self._append(carried_row(carried), carried)
        row = {"protocol": protocol["name"], "model": name, "shared_classes": " ".join(self.shared),
               "val_accuracy": "", "val_ci95": "", "best_epoch": "-", "faces_seen": "", "cpu_minutes": ""}
        if "untrained" in spec:
            options = spec.get("backbone_option") or []
            checkpoint = untrained_checkpoint(spec["untrained"], self.settings, options,
                                              out / untrained_name(spec["untrained"], self.settings, options))
            row.update(stages=UNTRAINED, faces_seen=0, cpu_minutes=0.0)
        elif "checkpoint" in spec:  # trained outside the harness
            checkpoint = Path(spec["checkpoint"])
            row.update(stages="given checkpoint", commit="-")
        elif "of" in spec:  # an earlier model (untrained ones too) scored with test-time options
            if spec["of"] not in self.scored:
                raise ValueError(f"model {name!r} scores {spec['of']!r}, which must be a model (not an "
                                 f"ensemble) listed before it.")
            checkpoint = self.scored[spec["of"]]
            earlier = next(r for r in self.rows if r["model"] == spec["of"])
            row.update({k: earlier[k] for k in ("stages", "faces_seen", "cpu_minutes", "val_accuracy", "val_ci95",
                                                "best_epoch", "commit")})
        elif "ensemble" in spec:  # soft vote of earlier trained models on the same episodes
            checkpoint, members = ensemble_members(spec, self.trained), [
                next(r for r in self.rows if r["model"] == m) for m in spec["ensemble"]]
            row.update(stages="ensemble of " + " + ".join(spec["ensemble"]),
                       faces_seen=sum(m["faces_seen"] for m in members),
                       cpu_minutes=round(sum(m["cpu_minutes"] for m in members), 3),
                       commit=" ".join(dict.fromkeys(m["commit"] for m in members)))
        elif "peer" in spec:  # another toolkit's model, trained and scored its own way (peer_rows.py)
            run_dir, budget = train_peer_row(spec, protocol.get("_training") or protocol, config, roots, out)
            result_dir = out / f"test-{protocol['name']}" / name.replace(" ", "-")
            row.update(**budget, **score_peer_row(protocol, run_dir, roots, self.episodes_file, result_dir,
                                                  bool(config.get("keep_duplicates"))),
                       _accs=episode_accuracies(result_dir))
            record_scoring(ledger_dir(config, self.results), protocol, name, config.get("_seed"), row,
                           row["scored_on"], config.get("_path", ""))
            return self._append(row, self._record(row, name, []))
        else:
            run_dir, stages = train_stage(spec, protocol, config, roots, out, self.trained)
            self.trained[name] = run_dir
            checkpoint = run_dir / "best.pt"
            faces, minutes = faces_seen(run_dir), cpu_minutes(run_dir)
            if spec.get("from"):  # the pre-training budget counts too
                base = self.trained[spec["from"]]
                faces += faces_seen(base)
                minutes += cpu_minutes(base)
            row.update(stages=stages, faces_seen=faces, cpu_minutes=round(minutes, 3), commit=trained_on(run_dir),
                       **selection(run_dir))
        if not isinstance(checkpoint, list):
            self.scored[name] = checkpoint
        if carried is not None:  # trained again for a row to come; its figures are the ones carried over
            if checkpoint_digest(checkpoint) != carried["checkpoint_sha256"]:
                print(f"note: {name} (seed {config.get('_seed')}) trained again differs from the checkpoint its "
                      f"carried figures were scored on; the rows scored from it now use the new one.")
            return self._append(carried_row(carried), carried)
        paths = checkpoint if isinstance(checkpoint, list) else [checkpoint]
        ckpts = [load_checkpoint(p) for p in paths]
        leak = sorted({c for ck in ckpts for c in ck.get("args", {}).get("train_classes", [])}
                      & set(self.target_classes))
        if protocol["unseen"] and leak:
            raise ValueError(f"model {name!r} was trained on {leak}, which protocol {protocol['name']!r} "
                             f"keeps unseen; train it with --classes excluding them.")
        result_dir = out / f"test-{protocol['name']}" / name.replace(" ", "-")
        commit = config.get("_commit") or git_commit()
        row.update(backbone=" + ".join(dict.fromkeys(ck["model_config"]["backbone"] for ck in ckpts)),
                   **score_on_target(protocol, checkpoint, roots, self.episodes_file, result_dir,
                                     bool(config.get("keep_duplicates")), spec.get("eval") or [], commit),
                   **deciding_validation(protocol, checkpoint, roots, out, name,
                                         bool(config.get("keep_duplicates")), spec.get("eval") or [], commit),
                   _accs=episode_accuracies(result_dir))
        if row["stages"] == UNTRAINED:  # no training: the code that scored it
            row["commit"] = row["scored_on"]
        if row.pop("_fresh"):
            record_scoring(ledger_dir(config, self.results), protocol, name, config.get("_seed"), row,
                           row["scored_on"], config.get("_path", ""))
        self._append(row, self._record(row, name, checkpoint))

    def _record(self, row: dict[str, Any], name: str, checkpoint: Path | list[Path]) -> dict[str, Any] | None:
        if name not in self.keys:
            return None
        check_same_episodes(self.records.values(), self.episodes_file, carried_file(self.results, self.protocol))
        return record(row, self.keys[name], checkpoint, self.episodes_file)

    def _append(self, row: dict[str, Any], carried: dict[str, Any] | None) -> None:
        self.rows.append(row)
        add_paired_differences(self.rows, self.config.get("reference", "protonet"))
        planned = sum(runs_at_seed(s, self.config.get("_seed")) for s in self.specs)
        write_tables(self.protocol, self.rows, self.results, self.config, planned=planned, combined=self.combined)
        if carried is not None:
            self.records[row["model"]] = carried
            save_carried(self.results, self.protocol, self.records)


def ledger_dir(config: dict[str, Any], results: Path) -> Path:
    """The results folder whose ``test-ledger.csv`` counts this config's test scorings (with seeds,
    the folder above the per-seed ones)."""
    return Path(config.get("_results", results))
