import csv
import json
import os
import re
import signal

import pytest
import torch
import yaml

from fewshot_fer.commands import train
from fewshot_fer.models.build import build_model, model_config
from fewshot_fer.weights import load_checkpoint, load_model_state

FAST = ["--image-size", "24", "--way", "3", "--shot", "2", "--query", "3", "--episodes-per-epoch", "4",
        "--val-episodes", "5", "--seed", "3"]


def run(tmp_path, *extra):
    assert train.main([*FAST, "--output", str(tmp_path), *extra]) == 0


def test_run_directory_contents(tmp_path):
    run(tmp_path, "--epochs", "2", "--name", "r")
    r = tmp_path / "r"
    for name in ("args.yaml", "environment.yaml", "metrics.csv", "curves.png", "last.pt", "best.pt",
                 "val_episodes.json"):
        assert (r / name).is_file(), name
    assert list(r.glob("events.out.tfevents.*"))
    args = yaml.safe_load((r / "args.yaml").read_text())
    assert args["val_dataset"] == "synthetic-compound" and args["val_way"] == 3
    assert "git_commit" in yaml.safe_load((r / "environment.yaml").read_text())
    rows = list(csv.DictReader(open(r / "metrics.csv")))
    assert [int(x["epoch"]) for x in rows] == [1, 2]
    best_epoch = max(rows, key=lambda x: float(x["val_acc"]))["epoch"]
    ckpt = load_checkpoint(r / "best.pt")  # weights_only=True inside
    assert ckpt["progress"]["best_epoch"] == int(best_epoch)
    model = build_model(ckpt["model_config"])
    load_model_state(model, ckpt["model_config"], ckpt, r / "best.pt")
    assert not list(r.glob("*.tmp")) and not list(r.glob(".*.tmp"))
    # TensorBoard projector: validation faces embedded at each new best epoch, named by class
    assert "validation faces (best epoch)" in (r / "projector_config.pbtxt").read_text()
    (metadata,) = [m for m in r.glob("*/*/metadata.tsv") if m.parent.parent.name == f"{int(best_epoch) * 4:05d}"]
    names = metadata.read_text().split()
    from fewshot_fer.data import create_dataset

    # 256 faces spread evenly over the validation set: every one of its 11 compound classes, ~23 each
    assert len(names) == 256 and set(names) == set(create_dataset("synthetic-compound", "val", image_size=24).class_names)
    features = [line.split("\t") for line in (metadata.parent / "tensors.tsv").read_text().splitlines()]
    assert len(features) == 256 and len(features[0]) == 64  # Conv-4's pooled 64-d features


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    run(tmp_path, "--epochs", "3", "--name", "straight")
    run(tmp_path, "--epochs", "1", "--name", "split")
    assert train.main(["--resume", str(tmp_path / "split"), "--epochs", "3"]) == 0
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "last.pt")
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert a["progress"]["history"][-1]["val_acc"] == b["progress"]["history"][-1]["val_acc"]
    rows = list(csv.DictReader(open(tmp_path / "split" / "metrics.csv")))
    assert [int(x["epoch"]) for x in rows] == [1, 2, 3]


def test_a_small_class_lowers_the_validation_query_size(tmp_path, capsys):
    run(tmp_path, "--epochs", "1", "--val-shot", "2", "--val-query", "100", "--name", "q")
    assert "validation episodes on synthetic-compound val use 78 query images per class, not 100" in capsys.readouterr().out
    assert yaml.safe_load((tmp_path / "q" / "args.yaml").read_text())["val_query"] == 78
    assert json.loads((tmp_path / "q" / "val_episodes.json").read_text())["n_query"] == 78


def test_resume_refuses_a_folder_that_is_not_a_train_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"--resume {tmp_path}: no last.pt there; give a run directory "
                                                "made by python -m fewshot_fer.train"):
        train.main(["--resume", str(tmp_path)])
    run(tmp_path, "--epochs", "1", "--name", "t")
    from fewshot_fer.commands import selftrain
    with pytest.raises(ValueError, match="its last.pt was not written by python -m fewshot_fer.selftrain"):
        selftrain.main(["--resume", str(tmp_path / "t")])


def test_config_file_and_its_errors(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 1\nval-way: 2\nname: fromcfg\n")
    run(tmp_path, "--config", str(cfg))
    assert yaml.safe_load((tmp_path / "fromcfg" / "args.yaml").read_text())["val_way"] == 2
    cfg.write_text("epoch: 1\n")
    with pytest.raises(ValueError, match="unknown key 'epoch'"):
        train.main(["--config", str(cfg)])
    # YAML values get the recipe's own type and choice checks, like typed flags
    for text, message in (("channels: 2\n", "channels (--channels) must be one of 1, 3, got 2"),
                          ("lr: [1, 2]\n", "lr (--lr) takes one value, got [1, 2]"),
                          ("lr: fast\n", "lr (--lr) must be a number, got 'fast'"),
                          ("strict: maybe\n", "strict (--strict) must be true or false, got 'maybe'")):
        cfg.write_text(text)
        with pytest.raises(ValueError, match=re.escape(message)):
            train.main(["--config", str(cfg)])


def test_a_runs_args_yaml_repeats_the_run(tmp_path):
    run(tmp_path, "--epochs", "1", "--name", "first")
    assert "world_size" in yaml.safe_load((tmp_path / "first" / "args.yaml").read_text())  # recorded, not a flag
    assert train.main(["--config", str(tmp_path / "first" / "args.yaml"), "--name", "again"]) == 0
    a = load_checkpoint(tmp_path / "first" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "again" / "last.pt")["model"]
    assert all(torch.equal(v, b[k]) for k, v in a.items())


def test_user_errors(tmp_path):
    with pytest.raises(ValueError, match="training episodes on synthetic-basic train: n_way=9 is larger than "
                                         r"the number of classes in the data \(7: 0 \(anger\), 1 \(disgust\)"):
        run(tmp_path, "--epochs", "1", "--way", "9")
    with pytest.raises(ValueError, match=r"training episodes on synthetic-basic train: class 0 \(anger\) has "
                                         r"items from only \d+ groups, fewer than k_shot \+ n_query = 300 \+ 3"):
        run(tmp_path, "--epochs", "1", "--shot", "300", "--val-shot", "1", "--name", "big")
    assert not (tmp_path / "big").exists()  # stopped before any run directory was made
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        run(tmp_path, "--dataset", "nope")
    run(tmp_path, "--epochs", "1", "--name", "x")
    with pytest.raises(FileExistsError, match="already exists; continue it with --resume"):
        run(tmp_path, "--epochs", "1", "--name", "x")


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    run(tmp_path, "--epochs", "1", "--name", "g")
    ckpt = load_checkpoint(tmp_path / "g" / "last.pt")
    rgb = model_config("protonet", "conv4", 3, 24)
    with pytest.raises(ValueError, match="holds a protonet/conv4 with 1 input channel.* does not fit the requested protonet/conv4 with 3"):
        load_model_state(build_model(rgb), rgb, ckpt, "g/last.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt could not be read as a fewshot-fer checkpoint: it is not a "
                                         "PyTorch file, or it holds objects other than tensors") as refused:
        load_checkpoint(tmp_path / "junk.pt")
    assert "weights_only=False" not in str(refused.value)  # torch's advice would run code from the file
    good = (tmp_path / "g" / "last.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"cut.pt could not be read as a fewshot-fer checkpoint: it is not a PyTorch file \(or it is truncated\)"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"model": ckpt["model"], "model_config": {"learner": "protonet"}}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"old.pt is not a usable fewshot-fer checkpoint: its model_config "
                                         r"lacks \['backbone', 'in_chans', 'image_size', 'mean', 'std'\]"):
        load_checkpoint(tmp_path / "old.pt")


def test_short_training_beats_chance_on_unseen_compound_expressions(tmp_path):
    # 3-way: chance is 33%. Unseen expressions of unseen identities, fixed validation episodes.
    assert train.main(["--image-size", "32", "--way", "3", "--shot", "5", "--query", "5",
                       "--episodes-per-epoch", "40", "--epochs", "3", "--val-episodes", "60",
                       "--output", str(tmp_path), "--name", "learn"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "learn" / "metrics.csv")))
    best = max(float(r["val_acc"]) for r in rows)
    ci = float(next(r for r in rows if float(r["val_acc"]) == best)["val_ci95"])
    assert best - ci > 0.40, (best, ci)


def test_learning_rate_schedules_by_hand():
    from fewshot_fer.training.schedule import epoch_lr

    assert [epoch_lr(1.0, e, 4, "constant") for e in range(4)] == [1.0] * 4
    # cosine over 4 epochs: 0.5 * (1 + cos(pi * e / 4))
    assert [epoch_lr(1.0, e, 4) for e in range(4)] == pytest.approx([1.0, 0.853553, 0.5, 0.146447], abs=1e-6)
    # 1 warm-up epoch of 5: lr / 2, then cosine over the 4 others
    assert [epoch_lr(1.0, e, 5, "cosine", warmup=1) for e in range(5)] == pytest.approx(
        [0.5, 1.0, 0.853553, 0.5, 0.146447], abs=1e-6)
    # step:2:0.5 halves every 2 epochs; after 1 warm-up epoch the steps count from epoch 1
    assert [epoch_lr(0.8, e, 6, "step:2:0.5") for e in range(6)] == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]
    assert [epoch_lr(0.8, e, 4, "step:2:0.5", warmup=1) for e in range(4)] == [0.4, 0.8, 0.8, 0.4]
    for bad in ("step", "step:0:0.5", "step:2:-1", "step:x:0.5", "linear"):
        with pytest.raises(ValueError, match=f"lr schedule must be one of cosine, constant, step:EVERY:FACTOR .*got '{bad}'"):
            epoch_lr(1.0, 0, 4, bad)
    with pytest.raises(ValueError, match=r"^command line: lr_schedule \(--lr-schedule\) must be cosine, constant or "
                                         r"step:EVERY:FACTOR .*got 'step:0:0.5'\.$"):
        train.main(["--lr-schedule", "step:0:0.5"])


def test_patience_stops_when_validation_stops_improving(tmp_path, capsys):
    # lr 1e-9: weights barely move, so validation never beats epoch 1 and patience 2 ends at epoch 3
    run(tmp_path, "--epochs", "6", "--patience", "2", "--lr", "1e-9", "--lr-schedule", "constant", "--name", "p")
    rows = list(csv.DictReader(open(tmp_path / "p" / "metrics.csv")))
    assert [int(x["epoch"]) for x in rows] == [1, 2, 3]
    assert [float(x["lr"]) for x in rows] == [1e-9] * 3
    assert "stopped after epoch 3: no better validation accuracy in 2 epochs" in capsys.readouterr().out
    args = yaml.safe_load((tmp_path / "p" / "args.yaml").read_text())
    assert (args["patience"], args["lr_schedule"], args["warmup_epochs"]) == (2, "constant", 0)


@pytest.mark.parametrize("signum", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_a_signal_inside_an_episode_resumes_to_identical_weights_and_buffers(tmp_path, monkeypatch, capsys, signum):
    """The signal lands after the episode's forward pass (batch norm already moved) and before its
    optimiser step; the run stops at the end of that episode, and the resumed run ends bit for bit
    where an uninterrupted one does, batch-norm buffers and counters included."""
    from fewshot_fer.training import trainer

    # what the handlers were (a job started in the background with & inherits SIGINT ignored)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    run(tmp_path, "--epochs", "2", "--name", "straight")
    calls, original = [], trainer.average_gradients

    def signal_on_the_seventh_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:  # epoch 2, episode 3 (4 episodes per epoch)
            os.kill(os.getpid(), signum)
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer, "average_gradients", signal_on_the_seventh_step)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "--epochs", "2", "--name", "cut")
    assert "after episode 3 of epoch 2: progress saved" in capsys.readouterr().out
    monkeypatch.setattr(trainer, "average_gradients", original)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["progress"]["done_in_epoch"] == 3
    assert train.main(["--resume", str(tmp_path / "cut")]) == 0
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "last.pt")["model"]
    assert a.keys() == b.keys() and any("num_batches_tracked" in k for k in a)
    for k, v in a.items():
        assert torch.equal(v, b[k]), k
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored


def test_resume_refuses_a_last_pt_of_another_run(tmp_path):
    import shutil

    run(tmp_path, "--epochs", "1", "--name", "proto")
    run(tmp_path, "--epochs", "1", "--name", "other", "--learner", "relationnet")
    (tmp_path / "mixed").mkdir()
    shutil.copy(tmp_path / "proto" / "args.yaml", tmp_path / "mixed" / "args.yaml")
    shutil.copy(tmp_path / "other" / "last.pt", tmp_path / "mixed" / "last.pt")
    with pytest.raises(ValueError, match=r"--resume .*mixed: its last.pt and args.yaml come from different runs "
                                         r"\(learner: 'relationnet' in last.pt, 'protonet' in args.yaml\)"):
        train.main(["--resume", str(tmp_path / "mixed"), "--epochs", "2"])
    shutil.copy(tmp_path / "other" / "args.yaml", tmp_path / "mixed" / "args.yaml")
    shutil.copy(tmp_path / "proto" / "best.pt", tmp_path / "mixed" / "best.pt")
    with pytest.raises(ValueError, match="its best.pt holds a protonet/conv4 .* model but last.pt a relationnet/conv4"):
        train.main(["--resume", str(tmp_path / "mixed"), "--epochs", "2"])
    assert not (tmp_path / "mixed" / "metrics.csv").exists()  # nothing trained, nothing written


def test_empty_text_and_truncated_checkpoints_get_one_sentence(tmp_path):
    run(tmp_path, "--epochs", "1", "--name", "t")
    data = (tmp_path / "t" / "best.pt").read_bytes()
    cases = {"empty.pt": b"", "text.pt": b"101 not a checkpoint\n", "cut.pt": data[: len(data) // 2]}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError) as err:
            load_checkpoint(tmp_path / name)
        message = str(err.value)
        assert message.startswith(f"{tmp_path / name} could not be read as a fewshot-fer checkpoint: "), message
        assert ("empty (0 bytes)" in message) if name == "empty.pt" else ("not a PyTorch file" in message), message


def test_bad_values_get_one_sentence_and_no_run_directory(tmp_path, capsys):
    cases = {("--device", "tpu"): "--device 'tpu' is not a device; use auto, cpu, cuda, cuda:N or mps.",
             ("--learner", "maml", "--learner-option", "inner_steps=abc"):
                 "learner 'maml' option inner_steps='abc' must be a whole number (default 5).",
             ("--backbone-option", "width=1.5"): "backbone 'conv4' option width=1.5 must be a whole number",
             ("--lr", "nan"): "lr (--lr) must be a positive, finite number, got nan.",
             ("--lr", "inf"): "lr (--lr) must be a positive, finite number, got inf."}
    for flags, message in cases.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            run(tmp_path, "--epochs", "1", "--name", "never", *flags)
        assert not (tmp_path / "never").exists(), flags
    for name, text, why in (("bad.yaml", "epochs: [1\n", "is not valid YAML (line 2, column 1)"),
                            ("tag.yaml", "epochs: !!python/object/apply:os.system ['touch PWNED']\n",
                             "could not determine a constructor for the tag")):
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=re.escape(why)):
            train.main(["--config", str(tmp_path / name)])


def test_resume_refuses_a_changed_setting_and_says_when_a_run_is_finished(tmp_path, capsys):
    run(tmp_path, "--epochs", "1", "--name", "done")
    capsys.readouterr()
    saved = (tmp_path / "done" / "last.pt").read_bytes()
    with pytest.raises(ValueError, match=r"^--resume \S+done keeps the run's own settings, and --lr 0\.5 differs from "
                                         r"its 0\.\d+, --way 4 differs from its \d+; only --device, --epochs, --patience, "
                                         r"--workers may change when resuming: drop the others or start a new run\.$"):
        train.main(["--resume", str(tmp_path / "done"), "--way", "4", "--lr", "0.5"])
    assert (tmp_path / "done" / "last.pt").read_bytes() == saved
    with pytest.raises(ValueError, match=r"^command line: epochs \(--epochs\) must be at most 10,000, got "
                                         r"1,000,000,000\.$"):
        train.main(["--resume", str(tmp_path / "done"), "--epochs", "1000000000"])
    assert train.main(["--resume", str(tmp_path / "done")]) == 0
    out = capsys.readouterr().out
    assert "is finished (all 1 epochs; best validation accuracy" in out and "nothing to train" in out
    assert len(list(csv.DictReader(open(tmp_path / "done" / "metrics.csv")))) == 1


def test_a_run_killed_before_its_first_checkpoint_says_how_to_start_again(tmp_path):
    """kill -9 during the very first write of last.pt leaves args.yaml and no checkpoint: --resume
    says so and names the command that repeats the run, which then ends where an unkilled one does."""
    run(tmp_path, "--epochs", "1", "--name", "straight")
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "args.yaml").write_text((tmp_path / "straight" / "args.yaml").read_text())
    (cut / ".last.pt.x1y2.tmp").write_bytes(b"half a checkpoint")
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"--resume {cut}: the run stopped before its first checkpoint was written, so nothing was trained; "
            f"start it again with python -m fewshot_fer.train --config {cut / 'args.yaml'} --name NEW_NAME")):
        train.main(["--resume", str(cut)])
    assert train.main(["--config", str(cut / "args.yaml"), "--name", "again"]) == 0
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "again" / "last.pt")["model"]
    assert all(torch.equal(v, b[k]) for k, v in a.items())
