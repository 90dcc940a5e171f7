import csv
import math

import pytest
import torch

from fewshot_fer.backbones import create_backbone
from fewshot_fer.commands import selftrain
from fewshot_fer.learners import create_learner
from fewshot_fer.training.baselines.pseudo_labels import bald, select, vote
from fewshot_fer.training.baselines.supervised import mc_dropout_probs
from fewshot_fer.weights import load_checkpoint

TINY = ["--image-size", "24", "--labelled-fraction", "0.05", "--unlabeled-limit", "200", "--epochs", "1",
        "--round-epochs", "1", "--mc-passes", "3", "--threshold", "0.0", "--backbone-option", "width=0.125"]


def tiny_model():
    torch.manual_seed(0)
    return create_learner("centroid", create_backbone("vgcnn", in_chans=1, width=0.125), n_classes=3)


def test_mc_dropout_passes_differ_and_average_to_probabilities():
    model = tiny_model()
    images = torch.randint(0, 255, (5, 1, 24, 24), dtype=torch.uint8)
    for scope in ("head", "all"):
        probs = mc_dropout_probs(model, images, passes=4, device=torch.device("cpu"), seed=1, scope=scope)
        assert probs.shape == (4, 5, 3)
        assert not torch.allclose(probs[0], probs[1])  # dropout is on: the passes differ
        assert torch.allclose(probs.mean(0).sum(-1), torch.ones(5), atol=1e-5)
        again = mc_dropout_probs(model, images, passes=4, device=torch.device("cpu"), seed=1, scope=scope)
        assert torch.equal(probs, again)  # seeded
    assert not any(m.training for m in model.modules())  # dropout switched off again


def test_bald_and_vote_by_hand():
    # two passes over one face: (1, 0) and (0, 1) -> mean (0.5, 0.5)
    probs = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert bald(probs).item() == pytest.approx(math.log(2))  # H(mean) = ln 2, mean H = 0
    agree = torch.tensor([[[0.8, 0.2]], [[0.8, 0.2]]])
    assert bald(agree).item() == pytest.approx(0.0, abs=1e-6)
    labels, confidence, variance = vote(torch.tensor([[[0.9, 0.1]], [[0.5, 0.5]]]))
    assert labels.tolist() == [0] and confidence.item() == pytest.approx(0.7)
    assert variance.item() == pytest.approx(0.04)  # probabilities 0.9 and 0.5 around 0.7


def test_selection_threshold_ranking_and_class_cap():
    mean = torch.tensor([[0.99, 0.01], [0.97, 0.03], [0.96, 0.04], [0.5, 0.5], [0.02, 0.98], [0.6, 0.4]])
    probs = mean.expand(3, -1, -1).clone()
    probs[0, 1] = torch.tensor([0.94, 0.06])  # face 1 keeps mean confidence ~0.96 but varies
    probs[1, 1] = torch.tensor([1.0, 0.0])
    idx, labels = select(probs, threshold=0.95, selection="confidence", class_cap=None)
    assert idx.tolist() == [0, 1, 2, 4] and labels.tolist() == [0, 0, 0, 1]
    idx, _ = select(probs, threshold=0.95, selection="confidence", class_cap=2)
    assert idx.tolist() == [0, 1, 4]  # the two most confident of class 0
    idx, _ = select(probs, threshold=0.95, selection="variance", class_cap=2)
    assert idx.tolist() == [0, 2, 4]  # face 1 varies most across passes
    with pytest.raises(ValueError, match="selection must be one of"):
        select(probs, selection="entropy")


def record_training_batches(monkeypatch) -> list:
    """Every (faces, labels) pair a self-training round trains on, in order."""
    from fewshot_fer.training import self_trainer

    seen, original = [], self_trainer.LabelledFaces

    def recording(x, y):
        seen.append((x.clone(), y.clone()))
        return original(x, y)

    monkeypatch.setattr(self_trainer, "LabelledFaces", recording)
    return seen


@pytest.mark.slow
def test_rehearsal_keeps_the_labelled_faces_every_round(tmp_path, monkeypatch):
    seen = record_training_batches(monkeypatch)
    assert selftrain.main([*TINY, "--rounds", "2", "--output", str(tmp_path), "--name", "r"]) == 0
    first_x, first_y = seen[0]
    assert len(seen) == 3 and all(len(x) > len(first_x) for x, _ in seen[1:])  # pseudo-labels were added
    for x, y in seen[1:]:
        assert torch.equal(x[: len(first_x)], first_x) and torch.equal(y[: len(first_y)], first_y)
    rows = list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))
    assert [int(r["round"]) for r in rows] == [0, 1, 2]
    assert (tmp_path / "r" / "curves.png").is_file()
    assert int(rows[1]["pseudo_labels"]) == len(seen[1][0]) - len(first_x)


@pytest.mark.slow
def test_resumed_run_continues_from_its_round(tmp_path):
    assert selftrain.main([*TINY, "--rounds", "2", "--output", str(tmp_path), "--name", "straight"]) == 0
    assert selftrain.main([*TINY, "--rounds", "1", "--output", str(tmp_path), "--name", "split"]) == 0
    assert selftrain.main(["--resume", str(tmp_path / "split"), "--rounds", "2"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "split" / "metrics.csv")))
    assert [int(r["round"]) for r in rows] == [0, 1, 2]
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    summary = (tmp_path / "split" / "summary.json").read_text()
    assert '"supervised_test_accuracy"' in summary and '"best_round"' in summary


@pytest.mark.slow
def test_ensemble_soft_vote_by_hand_and_command(tmp_path, capsys):
    from fewshot_fer.commands.ensemble import main as ensemble_main
    from fewshot_fer.evaluation.episodes import soft_vote
    votes = soft_vote([torch.tensor([[0.6, 0.4]]), torch.tensor([[0.2, 0.8]]), torch.tensor([[0.7, 0.3]])])
    assert torch.allclose(votes, torch.tensor([[0.5, 0.5]]))
    for seed in ("1", "2"):
        assert selftrain.main([*TINY, "--rounds", "0", "--seed", seed, "--output", str(tmp_path), "--name", seed]) == 0
    ckpts = [str(tmp_path / s / "best.pt") for s in ("1", "2")]
    for mc in ("0", "3"):
        assert ensemble_main(["--checkpoints", *ckpts, "--dataset", "synthetic-basic", "--mc-passes", mc,
                              "--output", str(tmp_path / f"e{mc}.json")]) == 0
    assert "soft-voting ensemble of 2 models with 3 MC-dropout passes" in capsys.readouterr().out


@pytest.mark.slow
def test_rehearsal_sample_draws_a_stratified_share_anew_each_round(tmp_path, monkeypatch):
    seen = record_training_batches(monkeypatch)
    assert selftrain.main([*TINY, "--rounds", "2", "--rehearsal", "sample:0.5", "--output", str(tmp_path),
                           "--name", "r"]) == 0
    (x0, y0), (x1, y1), (x2, y2) = seen
    pseudo = [int(r["pseudo_labels"]) for r in csv.DictReader(open(tmp_path / "r" / "metrics.csv"))]
    for x, y, n_pseudo in ((x1, y1, pseudo[1]), (x2, y2, pseudo[2])):
        rehearsed = y[: len(y) - n_pseudo]
        # half of each class's labelled faces (rounded), at least one
        expected = [max(1, round(0.5 * int((y0 == c).sum()))) for c in torch.unique(y0).tolist()]
        assert torch.bincount(rehearsed).tolist() == expected
    assert not torch.equal(x1[: len(x1) - pseudo[1]], x2[: len(x2) - pseudo[2]])  # drawn anew
    for bad in ("some", "sample:0", "sample:1.5", "sample:x"):
        with pytest.raises(ValueError, match=r"rehearsal \(--rehearsal\) must be 'all' or 'sample:F' with F in "):
            selftrain.main([*TINY, "--rehearsal", bad])


@pytest.mark.slow
def test_test_split_scored_per_round_with_mc_vote_and_the_fresh_ensemble(tmp_path, capsys):
    import json

    from episodes import episode_seed
    from fewshot_fer.data import create_dataset
    from fewshot_fer.evaluation.episodes import soft_vote
    from fewshot_fer.models.build import load_trained
    from fewshot_fer.training.baselines.supervised import predict_probs

    assert selftrain.main([*TINY, "--rounds", "1", "--fresh", "0.5", "--output", str(tmp_path), "--name", "f"]) == 0
    run = tmp_path / "f"
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["rounds"]) == {"0", "1"} and summary["mc_passes"] == 3
    test = create_dataset("synthetic-basic", "test", None, 24, 1)
    device = torch.device("cpu")
    acc = lambda p: float((p.argmax(-1) == test.labels).double().mean())
    model, ckpt = load_trained(run / "round0.pt", device)
    assert summary["rounds"]["0"]["test_accuracy"] == acc(predict_probs(model, test.images, device))
    mc = mc_dropout_probs(model, test.images, 3, device, seed=episode_seed(0, 0, 5)).mean(0)
    assert summary["rounds"]["0"]["test_accuracy_mc"] == acc(mc)
    kept, _ = load_trained(run / "best.pt", device)
    fresh, _ = load_trained(run / "fresh.pt", device)
    assert summary["fresh"]["test_accuracy"] == acc(predict_probs(fresh, test.images, device))
    both = soft_vote([predict_probs(kept, test.images, device), predict_probs(fresh, test.images, device)])
    assert summary["ensemble"]["test_accuracy"] == acc(both)
    labelled = summary["labelled"]
    assert summary["fresh"]["labelled"] < labelled and summary["fresh"]["pseudo_labels"] > 0
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["round"] for r in rows] == ["0", "1", "fresh"]
    out = capsys.readouterr().out
    assert "<- kept (best on validation)" in out and "ensemble (kept + fresh): test" in out
    with pytest.raises(ValueError, match=r"fresh \(--fresh\) must be in \[0, 1\], got 2.0"):
        selftrain.main([*TINY, "--fresh", "2", "--output", str(tmp_path)])
