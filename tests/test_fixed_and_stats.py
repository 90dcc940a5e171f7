import json
import math

import pytest
import torch

from episodes import EpisodeSampler, FixedEpisodes, format_mean_ci, mean_ci95, mean_ci95_t


def test_fixed_episodes_round_trip(tmp_path):
    labels = torch.arange(4).repeat_interleave(10)
    keys = [f"img_{i:03d}.jpg" for i in range(len(labels))]
    sampler = EpisodeSampler(labels, 3, 2, 3, seed=11, n_episodes=7)
    fixed = FixedEpisodes.sample(sampler, keys, meta={"dataset": "toy"})
    path = tmp_path / "sub" / "episodes.json"
    fixed.save(path)
    loaded = FixedEpisodes.load(path)
    assert loaded.episodes == fixed.episodes
    assert (loaded.n_way, loaded.k_shot, loaded.n_query) == (3, 2, 3)
    assert loaded.meta["dataset"] == "toy" and loaded.meta["seed"] == 11
    assert loaded.indices(keys) == [sampler.episode(e) for e in range(7)]
    # The same keys in another order map to the same items.
    shuffled = list(reversed(keys))
    back = loaded.indices(shuffled)
    assert [[shuffled[i] for i in ep] for ep in back] == fixed.episodes
    assert not list(tmp_path.glob("sub/*.tmp"))


def test_fixed_episodes_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        FixedEpisodes.load(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="is not a fewshot episodes file"):
        FixedEpisodes.load(bad)
    fixed = FixedEpisodes(1, 1, 1, [["a", "b"]])
    with pytest.raises(ValueError, match="names item 'b', which the dataset does not contain"):
        fixed.indices(["a", "c"])
    short = tmp_path / "short.json"
    FixedEpisodes(2, 1, 1, [["a", "b", "c"]]).save(short)
    with pytest.raises(ValueError, match=r"episode 0 must be a list of n_way \* \(k_shot \+ n_query\) = 4 item keys, "
                                         r"got \['a', 'b', 'c'\]\.$"):
        FixedEpisodes.load(short)


def test_mean_ci95_by_hand():
    values = [0.5, 0.7, 0.6, 0.8]
    # mean 0.65; sample variance ((.15)^2+(.05)^2+(.05)^2+(.15)^2)/3 = 0.05/3
    mean, ci = mean_ci95(values)
    assert mean == pytest.approx(0.65)
    assert ci == pytest.approx(1.96 * math.sqrt(0.05 / 3) / 2)
    assert format_mean_ci(values) == f"65.00 +- {100 * 1.96 * math.sqrt(0.05 / 3) / 2:.2f}%"
    assert math.isnan(mean_ci95([0.3])[1])
    with pytest.raises(ValueError):
        mean_ci95([])


def test_atomic_writes_replace_whole_files_with_the_usual_permissions(tmp_path):
    import os

    from episodes import atomic_open

    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write("half")
            raise RuntimeError("stopped mid-write")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
    with atomic_open(target) as f:
        f.write("new")
    mask = os.umask(0)
    os.umask(mask)
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


def test_cluster_bootstrap_resamples_units_not_values():
    import math

    from episodes import cluster_bootstrap_ci95

    assert cluster_bootstrap_ci95(torch.ones(12), torch.arange(12) % 4) == (1.0, 1.0)
    # 2,000 independent queries of accuracy 0.7: close to the normal interval 1.96 sqrt(p (1 - p) / n)
    gen = torch.Generator().manual_seed(1)
    right = (torch.rand(2000, generator=gen) < 0.7).double()
    low, high = cluster_bootstrap_ci95(right, torch.arange(2000))
    normal = 1.96 * math.sqrt(float(right.mean()) * (1 - float(right.mean())) / 2000)
    assert (high - low) / 2 == pytest.approx(normal, rel=0.15)
    # the same 20 faces asked 100 times each: as wide as 20 queries, not 2,000
    faces = torch.arange(20).repeat(100)
    again = (torch.rand(20, generator=gen) < 0.7).double()[faces]
    low, high = cluster_bootstrap_ci95(again, faces)
    p = float(again.mean())
    assert (high - low) / 2 == pytest.approx(1.96 * math.sqrt(p * (1 - p) / 20), rel=0.3)
    assert cluster_bootstrap_ci95(again, faces, seed=5) == cluster_bootstrap_ci95(again, faces, seed=5)
    with pytest.raises(ValueError, match="needs one cluster per value, got 3 values and 2 clusters"):
        cluster_bootstrap_ci95(torch.ones(3), torch.arange(2))


def test_t_interval_over_seeds_golden_values():
    # [1, 2, 3]: mean 2, sample std 1, t at 2 degrees of freedom 4.303 -> 4.303 / sqrt(3)
    mean, half = mean_ci95_t([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.303 / math.sqrt(3))
    assert mean_ci95_t([0.5, 0.5])[1] == 0.0
    assert math.isnan(mean_ci95_t([4.0])[1])
    with pytest.raises(ValueError, match="at least one value"):
        mean_ci95_t([])
