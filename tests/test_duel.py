"""The duel's several-seed summary: Student's t interval, seed parsing, rows matched across seeds."""

import argparse
import math

import pytest
import torch

from benchmarks.duel import build_parser, render_seeds, seed_list, seed_summary, seed_work_dir
from episodes import mean_ci95_t


def test_t_interval_golden_values():
    # [1, 2, 3]: mean 2, sample std 1, t at 2 degrees of freedom 4.303 -> 4.303 / sqrt(3)
    mean, half = mean_ci95_t([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.303 / math.sqrt(3))
    assert mean_ci95_t([0.5, 0.5])[1] == 0.0
    assert math.isnan(mean_ci95_t([4.0])[1])
    with pytest.raises(ValueError, match="at least one value"):
        mean_ci95_t([])


def test_seed_list_and_work_dirs(tmp_path):
    assert seed_list("0,3,1") == [0, 3, 1]
    assert build_parser().parse_args(["--seed", "2"]).seeds == [2]  # the old single-seed flag still works
    assert build_parser().parse_args([]).seeds == [0]
    for bad in ("0,0", "a,1", "-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="seeds must be"):
            seed_list(bad)
    assert seed_work_dir(tmp_path, 0) == tmp_path and seed_work_dir(tmp_path, 4) == tmp_path / "seed4"


def rows(peer, final, best):
    t = lambda *a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    return [{"model": "untrained", "kind": "random init", "accs": t(0.3, 0.4)},
            {"model": "easyfsl peer", "kind": "final", "accs": t(*peer)},
            {"model": "ours", "kind": "final", "accs": t(*final)},
            {"model": "ours", "kind": "best epoch on val", "accs": t(*best)}]


def test_seed_summary_matches_rows_across_seeds():
    per_seed = {0: rows([0.5, 0.6], [0.6, 0.6], [0.4, 0.5]), 1: rows([0.5, 0.5], [0.4, 0.5], [0.5, 0.5])}
    summary = seed_summary(per_seed)
    assert [(r["model"], r["weights"]) for r in summary] == [
        ("untrained", "random init"), ("easyfsl peer", "final"), ("ours", "final"), ("ours", "best epoch on val")]
    final = summary[2]
    # seed 0: ours 60 vs peer 55 (+5); seed 1: 45 vs 50 (-5)
    assert final["accuracy_per_seed"] == pytest.approx([60.0, 45.0])
    assert final["diff_per_seed"] == pytest.approx([5.0, -5.0])
    assert final["diff_vs_peer"] == pytest.approx(0.0)
    assert final["diff_ci95"] == pytest.approx(12.706 * math.sqrt(50) / math.sqrt(2))
    assert final["seeds_at_or_above_peer"] == 1
    assert summary[3]["diff_per_seed"] == pytest.approx([-10.0, 0.0]) and summary[3]["seeds_at_or_above_peer"] == 1
    args = argparse.Namespace(seeds=[0, 1], eval_episodes=2, output="x/duel-seeds")
    table = render_seeds(summary, args, "python -m benchmarks.duel --seeds 0,1")
    assert "| ours | final | 60.00, 45.00 | 52.50 +- " in table and "| +5.00, -5.00 | +0.00 +- " in table
    assert "| easyfsl peer | final | 55.00, 50.00 | 52.50 +- " in table and "`duel-seeds-seedN.md`" in table


def test_seed_summary_rejects_a_row_missing_from_a_seed():
    per_seed = {0: rows([0.5], [0.6], [0.4]), 1: rows([0.5], [0.4], [0.5])[:3]}
    with pytest.raises(ValueError, match="'ours' \\(best epoch on val\\) is missing"):
        seed_summary(per_seed)
