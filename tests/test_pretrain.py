"""python -m fewshot_fer.pretrain: a normal run directory whose checkpoint evaluate and train accept."""

import csv
import json
import os
import signal

import pytest
import torch
import yaml

from fewshot_fer.commands import evaluate, pretrain, train
from fewshot_fer.data.transforms import apply_augmentation
from fewshot_fer.training.optim import build_optimizer
from fewshot_fer.weights import load_checkpoint

FAST = ["--image-size", "24", "--val-way", "3", "--val-shot", "2", "--val-query", "3", "--val-episodes", "5",
        "--batch-size", "32", "--seed", "1"]


@pytest.mark.slow
def test_pretrain_checkpoint_feeds_evaluate_and_train(tmp_path):
    assert pretrain.main([*FAST, "--epochs", "2", "--output", str(tmp_path), "--name", "pre"]) == 0
    run = tmp_path / "pre"
    for name in ("args.yaml", "environment.yaml", "metrics.csv", "curves.png", "last.pt", "best.pt",
                 "val_episodes.json"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert int(rows[-1]["faces_seen"]) == 2 * 3360  # two passes over the synthetic training faces
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt["model_config"]["learner"] == "centroid"
    assert ckpt["model_config"]["learner_kwargs"]["centre"] is True
    assert ckpt["model"]["norm.centring.mean"].shape == (64,)  # SimpleShot mean of the pooled Conv-4 features
    args = yaml.safe_load((run / "args.yaml").read_text())
    assert (args["augmentation"], args["label_smoothing"], args["lr_schedule"]) == ("face", 0.1, "cosine")
    assert pretrain.main(["--config", str(run / "args.yaml"), "--epochs", "1", "--name", "again"]) == 0
    assert yaml.safe_load((tmp_path / "again" / "args.yaml").read_text())["image_size"] == args["image_size"]

    out = tmp_path / "eval"
    assert evaluate.main(["--checkpoint", str(run / "best.pt"), "--dataset", "synthetic-compound", "--split", "test",
                          "--way", "3", "--shot", "2", "--query", "3", "--episodes", "4", "--output", str(out)]) == 0
    assert 0 <= json.loads((out / "summary.json").read_text())["shots"]["2"]["accuracy"] <= 1

    assert train.main(["--pretrained", str(run / "best.pt"), "--image-size", "24", "--way", "3", "--shot", "2",
                       "--query", "3", "--episodes-per-epoch", "1", "--val-episodes", "2", "--epochs", "1",
                       "--lr", "1e-12", "--output", str(tmp_path), "--name", "fine"]) == 0
    fine = load_checkpoint(tmp_path / "fine" / "last.pt")["model"]
    for key, value in ckpt["model"].items():  # the backbone arrived (lr 1e-12: still the same weights;
        if key.startswith("backbone.") and "running" not in key and value.is_floating_point():  # BN stats move)
            assert torch.allclose(fine[key], value, atol=1e-6), key


@pytest.mark.parametrize("signum", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_a_signal_inside_an_epoch_of_pretraining_resumes_to_identical_weights(tmp_path, monkeypatch, capsys, signum):
    """Pre-training runs on the one training loop: a signal stops it at the next batch boundary
    with last.pt saved there, and the resumed run ends bit for bit where an uninterrupted one does
    (weights, batch-norm buffers, the optimiser's moments and the augmentation draws)."""
    from fewshot_fer.training import trainer

    small = [*FAST, "--classes", "anger,happiness", "--epochs", "2", "--output", str(tmp_path)]  # 30 batches an epoch
    assert pretrain.main([*small, "--name", "straight"]) == 0
    calls, original = [], trainer.average_gradients

    def signal_on_step_40(*args, **kwargs):
        calls.append(1)
        if len(calls) == 40:  # epoch 2, batch 10
            os.kill(os.getpid(), signum)
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer, "average_gradients", signal_on_step_40)
    with pytest.raises(KeyboardInterrupt):
        pretrain.main([*small, "--name", "cut"])
    assert "after batch 10 of epoch 2: progress saved" in capsys.readouterr().out
    monkeypatch.setattr(trainer, "average_gradients", original)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["progress"]["done_in_epoch"] == 10
    assert pretrain.main(["--resume", str(tmp_path / "cut")]) == 0
    a, b = (load_checkpoint(tmp_path / n / "last.pt") for n in ("straight", "cut"))
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(v, b["model"][k]) for k, v in a["model"].items())
    assert all(torch.equal(v, w) for s1, s2 in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values())
               for v, w in zip(s1.values(), s2.values()))
    assert [r["val_acc"] for r in csv.DictReader(open(tmp_path / "cut" / "metrics.csv"))] == \
        [r["val_acc"] for r in csv.DictReader(open(tmp_path / "straight" / "metrics.csv"))]


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", [[], ["--optimizer", "sgd", "--lr", "0.05"]], ids=["adam", "sgd"])
def test_pretrain_resume_continues_after_the_last_epoch(tmp_path, optimizer):
    assert pretrain.main([*FAST, *optimizer, "--epochs", "2", "--output", str(tmp_path), "--name", "straight"]) == 0
    assert pretrain.main([*FAST, *optimizer, "--epochs", "1", "--output", str(tmp_path), "--name", "split"]) == 0
    assert pretrain.main(["--resume", str(tmp_path / "split"), "--epochs", "2"]) == 0
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "last.pt")["model"]
    for key, value in a.items():
        assert torch.allclose(value.float(), b[key].float(), atol=1e-6), key


def test_sgd_takes_nesterov_steps_with_weight_decay():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    opt = build_optimizer([w], {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.5})
    (2 * w).sum().backward()  # gradient 2, plus weight decay 0.5 * 1 = 2.5
    opt.step()  # Nesterov: 1 - 0.1 * (2.5 + 0.9 * 2.5)
    assert w.item() == pytest.approx(0.525)
    assert isinstance(build_optimizer([w], {"lr": 0.1, "weight_decay": 0.0}), torch.optim.Adam)  # older runs
    with pytest.raises(ValueError, match=r"optimizer \(--optimizer\) must be one of adam, sgd, got 'lion'"):
        pretrain.main([*FAST, "--optimizer", "lion"])
    with pytest.raises(ValueError, match=r"momentum \(--momentum\) must be in \[0, 1\), got 1.0"):
        pretrain.main([*FAST, "--momentum", "1"])


def test_augmentation_policies_are_seeded_and_named():
    x = torch.randn(6, 1, 24, 24)
    for policy in ("flip-shift", "flip-rotate", "face", "photo"):
        one = apply_augmentation(x, torch.Generator().manual_seed(5), policy)
        two = apply_augmentation(x, torch.Generator().manual_seed(5), policy)
        assert one.shape == x.shape and torch.equal(one, two) and not torch.equal(one, x), policy
    assert torch.equal(apply_augmentation(x, torch.Generator(), "none"), x)
    with pytest.raises(ValueError, match="augmentation must be one of none, flip-shift, flip-rotate, face, photo; "
                                         "got 'crop'"):
        apply_augmentation(x, torch.Generator(), "crop")


def test_rotation_task_turns_each_image_by_its_quarter_turns():
    from fewshot_fer.backbones import create_backbone
    from fewshot_fer.learners import create_learner
    from fewshot_fer.training.baselines.supervised import rotate_quarters, train_epoch

    x = torch.arange(4.0).view(1, 1, 2, 2).repeat(4, 1, 1, 1)  # [[0, 1], [2, 3]]
    out = rotate_quarters(x, torch.tensor([0, 1, 2, 3]))
    assert out[0, 0].tolist() == [[0, 1], [2, 3]]
    assert out[1, 0].tolist() == [[1, 3], [0, 2]]  # 90 degrees counter-clockwise
    assert out[2, 0].tolist() == [[3, 2], [1, 0]]
    assert out[3, 0].tolist() == [[2, 0], [3, 1]]
    plain = create_learner("centroid", create_backbone("conv4"), n_classes=2, neck="pool")
    with pytest.raises(ValueError, match="rotation_loss needs a model with a rotation head"):
        train_epoch(plain, torch.zeros(4, 1, 16, 16, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]),
                    torch.optim.Adam(plain.parameters()), torch.Generator(), torch.device("cpu"), rotation_loss=1.0)


def test_nt_xent_against_hand_computed_values():
    import math

    from fewshot_fer.training.baselines.supervised import nt_xent

    eye = torch.eye(2)
    # identical views: each row sees its pair at cosine 1 and the two others at 0
    assert math.isclose(nt_xent(eye, eye, temperature=1.0).item(), math.log(1 + 2 / math.e), rel_tol=1e-6)
    assert math.isclose(nt_xent(eye, 3 * eye, temperature=0.5).item(), math.log(1 + 2 / math.e ** 2), rel_tol=1e-6)
    # swapped views: the pair is at cosine 0, one negative at 1
    assert math.isclose(nt_xent(eye, eye.flip(0), temperature=1.0).item(), math.log(2 + math.e), rel_tol=1e-6)
    with pytest.raises(ValueError, match=r"two views of the same shape with at least 2 images, got \(2, 2\) and \(3, 2\)"):
        nt_xent(eye, torch.eye(3, 2))


@pytest.mark.slow
def test_contrastive_pretraining_adds_a_projection_head_and_needs_one(tmp_path):
    from fewshot_fer.backbones import create_backbone
    from fewshot_fer.learners import create_learner
    from fewshot_fer.training.baselines.supervised import train_epoch

    assert pretrain.main([*FAST, "--epochs", "1", "--contrastive-loss", "0.5", "--output", str(tmp_path),
                          "--name", "con"]) == 0
    ckpt = load_checkpoint(tmp_path / "con" / "best.pt")
    assert ckpt["model_config"]["learner_kwargs"]["projection_head"] is True
    assert ckpt["model"]["projection.2.weight"].shape == (128, 256)
    assert yaml.safe_load((tmp_path / "con" / "args.yaml").read_text())["contrastive_loss"] == 0.5
    plain = create_learner("centroid", create_backbone("conv4"), n_classes=2, neck="pool")
    with pytest.raises(ValueError, match="contrastive_loss needs a model with a projection head"):
        train_epoch(plain, torch.zeros(4, 1, 16, 16, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]),
                    torch.optim.Adam(plain.parameters()), torch.Generator(), torch.device("cpu"), contrastive_loss=1.0)
    with pytest.raises(ValueError, match=r"contrastive_temperature \(--contrastive-temperature\) must be a positive, "
                                         r"finite number, got 0.0"):
        pretrain.main([*FAST, "--contrastive-temperature", "0", "--output", str(tmp_path)])


def test_distillation_loss_against_hand_computed_values():
    import math

    from fewshot_fer.training.baselines.supervised import distillation_loss

    student, teacher = torch.zeros(1, 2), torch.tensor([[math.log(3.0), 0.0]])  # teacher softmax [0.75, 0.25]
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert math.isclose(distillation_loss(student, teacher, 1.0).item(), kl, rel_tol=1e-5)
    p = math.sqrt(3) / (1 + math.sqrt(3))  # softmax of [ln 3 / 2, 0]
    kl2 = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    assert math.isclose(distillation_loss(student, teacher, 2.0).item(), 4 * kl2, rel_tol=1e-5)
    assert distillation_loss(teacher, teacher).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.slow
def test_self_distillation_learns_from_a_checked_teacher(tmp_path):
    assert pretrain.main([*FAST, "--epochs", "1", "--output", str(tmp_path), "--name", "teacher"]) == 0
    teacher = str(tmp_path / "teacher" / "best.pt")
    assert pretrain.main([*FAST, "--epochs", "1", "--teacher", teacher, "--output", str(tmp_path),
                          "--name", "student"]) == 0
    args = yaml.safe_load((tmp_path / "student" / "args.yaml").read_text())
    assert (args["teacher"], args["distill_weight"], args["distill_temperature"]) == (teacher, 0.5, 4.0)
    with pytest.raises(ValueError, match=r"--teacher .* reads faces as \{'image_size': 24.*this run as \{'image_size': 32"):
        pretrain.main([*FAST, "--image-size", "32", "--teacher", teacher, "--output", str(tmp_path), "--name", "x"])
    with pytest.raises(ValueError, match=r"--teacher .* was trained on classes \[.*\], not on this run's \['anger', 'happiness'\]"):
        pretrain.main([*FAST, "--classes", "anger,happiness", "--teacher", teacher, "--output", str(tmp_path),
                       "--name", "y"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()  # refused before any run directory
    with pytest.raises(ValueError, match=r"distill_weight \(--distill-weight\) must be in \[0, 1\], got 1.5"):
        pretrain.main([*FAST, "--teacher", teacher, "--distill-weight", "1.5", "--output", str(tmp_path)])


def test_cosine_classifier_golden_values_and_margin():
    from fewshot_fer.learners.cosine_classifier import CosineClassifier

    head = CosineClassifier(2, scale=10.0, margin=-0.2)
    features = torch.tensor([[3.0, 4.0], [0.0, -2.0]])
    logits = head(features)  # the first call reads the width, 2
    with torch.no_grad():
        head.weight_source.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 5.0]]))  # directions x and y
    logits = head(features)
    assert torch.allclose(logits, torch.tensor([[6.0, 8.0], [0.0, -10.0]]))  # 10 * cosines
    # the margin comes off the true class's cosine: -0.2 adds 2 to it
    assert torch.allclose(head.with_margin(logits, torch.tensor([1, 0])), torch.tensor([[6.0, 10.0], [2.0, -10.0]]))
    assert torch.equal(CosineClassifier(2).with_margin(logits, torch.tensor([1, 0])), logits)
    with pytest.raises(ValueError, match="margin must be in \\(-1, 1\\), got 1.5"):
        CosineClassifier(2, margin=1.5)
    with pytest.raises(ValueError, match="scale must be positive, got 0"):
        CosineClassifier(2, scale=0)


@pytest.mark.slow
def test_cosine_classifier_pretraining_round_trip(tmp_path):
    from fewshot_fer.backbones import create_backbone
    from fewshot_fer.learners import create_learner

    assert pretrain.main([*FAST, "--epochs", "1", "--learner-option", "classifier=cosine", "--learner-option",
                          "margin=-0.1", "--learner-option", "neck=flatten", "--output", str(tmp_path),
                          "--name", "cos"]) == 0
    ckpt = load_checkpoint(tmp_path / "cos" / "best.pt")
    kwargs = ckpt["model_config"]["learner_kwargs"]
    assert (kwargs["classifier"], kwargs["margin"]) == ("cosine", -0.1)
    assert ckpt["model"]["head.1.weight_source.weight"].shape == (7, 64)  # 7 classes; 24 px: 1x1 Conv-4 maps
    out = tmp_path / "eval"
    assert evaluate.main(["--checkpoint", str(tmp_path / "cos" / "best.pt"), "--dataset", "synthetic-compound",
                          "--split", "test", "--way", "3", "--shot", "2", "--query", "3", "--episodes", "4",
                          "--output", str(out)]) == 0
    with pytest.raises(ValueError, match="margin=0.2 needs classifier=cosine"):
        create_learner("centroid", create_backbone("conv4"), n_classes=2, margin=0.2)
    with pytest.raises(ValueError, match="classifier must be one of linear, cosine; got 'arc'"):
        create_learner("centroid", create_backbone("conv4"), n_classes=2, classifier="arc")
