"""The benchmark harness end to end on tiny exact-layout fixtures (RAF-DB official layout, AFEW .avi)."""

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from layouts import write_official

from benchmarks import run as harness

TINY_TRAIN = {"epochs": 1, "episodes_per_epoch": 3, "val_episodes": 3, "image_size": 24}


def rafdb(root):
    basic = [f"train_{i:05d}.jpg {1 + i % 7}" for i in range(1, 141)] + [f"test_{i:04d}.jpg {1 + i % 7}" for i in range(1, 29)]
    compound = [f"train_{i:04d}.jpg {1 + i % 11}" for i in range(1, 441)] + [f"test_{i:04d}.jpg {1 + i % 11}" for i in range(1, 45)]
    write_official(root / "basic", basic)
    write_official(root / "compound", compound)
    return root


def write_config(tmp_path, protocols, roots):
    paths = []
    for protocol in protocols:
        path = tmp_path / f"{protocol['name']}.yaml"
        path.write_text(yaml.safe_dump(protocol))
        paths.append(str(path))
    config = {"protocols": paths, "learners": ["protonet"], "backbones": ["conv4"], "data_roots": roots,
              "train": TINY_TRAIN, "output": str(tmp_path / "runs"), "results": str(tmp_path / "results"),
              "keep_duplicates": True}  # the fixtures' faces are one grey value per class: all copies
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return str(tmp_path / "config.yaml")


def tiny(name, source, select, target, unseen, eval_way=2):
    return {"name": name, "source": source, "select": select, "target": target, "unseen": unseen,
            "train": {"way": 2, "shot": 1, "query": 1}, "eval": {"way": eval_way, "shot": 1, "query": 1, "episodes": 6}}


def synthetic_protocol(name):
    """``tiny``'s unseen-class protocol on the built-in faces: train on synthetic-basic, select on
    synthetic-compound val, test on synthetic-compound test."""
    return tiny(name, {"dataset": "synthetic-basic"}, {"dataset": "synthetic-compound", "split": "val"},
                {"dataset": "synthetic-compound", "split": "test"}, True)


def synthetic_config(tmp_path, name, **changes):
    """``write_config`` of ``synthetic_protocol(name)`` with the top-level keys ``changes`` replaced;
    the config's path."""
    config = write_config(tmp_path, [synthetic_protocol(name)], {})
    rewrite_config(config, **changes)
    return config


def rewrite_config(config, **changes):
    """Replace top-level keys of the harness config file ``config``; its new contents."""
    data = {**yaml.safe_load(open(config)), **changes}
    open(config, "w").write(yaml.safe_dump(data))
    return data


def test_rafdb_basic_to_compound_end_to_end(tmp_path):
    root = rafdb(tmp_path / "rafdb")
    protocol = tiny("tiny-rafdb", {"dataset": "rafdb-basic"}, {"dataset": "rafdb-compound", "split": "val"},
                    {"dataset": "rafdb-compound", "split": "test"}, True, eval_way=4)
    config = write_config(tmp_path, [protocol], {"rafdb-basic": str(root), "rafdb-compound": str(root)})
    assert harness.main(["--config", config]) == 0
    rows = list(csv.DictReader(open(tmp_path / "results" / "tiny-rafdb.csv")))
    assert [(r["model"], r["episodes"]) for r in rows] == [("untrained conv4", "6"), ("protonet", "6")]
    assert 0 <= float(rows[1]["accuracy"]) <= 1 and rows[1]["shared_classes"] == ""
    # budget: 1 epoch of 3 episodes of 2 classes x (1 support + 1 query) faces; the floor saw none
    assert (rows[0]["faces_seen"], rows[1]["faces_seen"]) == ("0", "12")
    untrained, trained = (torch.tensor([float(a["accuracy"]) for a in csv.DictReader(open(
        tmp_path / "runs" / "test-tiny-rafdb" / name / "episodes.csv"))]) for name in ("untrained-conv4", "protonet"))
    assert float(rows[0]["paired_diff"]) == pytest.approx(float((untrained - trained).mean()))
    assert rows[1]["paired_diff"] == ""  # the reference itself
    table = (tmp_path / "results" / "tiny-rafdb.md").read_text()
    assert "4-way 1-shot" in table and "| protonet | episodic | conv4 |" in table
    assert "| untrained conv4 | none (random weights) | conv4 |" in table
    # every row also scored on the fixed validation episodes with its own options; the pool listed
    assert all(0 <= float(r["val_deciding"]) <= 1 for r in rows)
    assert (tmp_path / "runs" / "episodes" / "tiny-rafdb-val.json").is_file()
    assert "Test pool (after copies are left out): " in table and " faces" in table
    assert "tiny-rafdb | protonet" in (tmp_path / "results" / "README.md").read_text()
    best = tmp_path / "runs" / "tiny-rafdb-protonet" / "best.pt"
    stamp = best.stat().st_mtime_ns
    assert harness.main(["--config", config]) == 0  # the trained run is reused, the episodes too
    again = list(csv.DictReader(open(tmp_path / "results" / "tiny-rafdb.csv")))
    assert again[1]["accuracy"] == rows[1]["accuracy"] and best.stat().st_mtime_ns == stamp


def test_rafdb_basic_to_afew_reports_clip_accuracy_and_shared_classes(tmp_path):
    from layouts import write_avi
    root = rafdb(tmp_path / "rafdb")
    afew = tmp_path / "afew"
    for folder, expression in (("Angry", "anger"), ("Happy", "happiness"), ("Surprise", "surprise")):
        for k in range(2):
            write_avi(afew / "Val_AFEW" / folder / f"{k + 1:09d}.avi", expression, person=1 + k)
    target = {"dataset": "afew", "split": "val", "face_detector": "none", "clip_frames": 3}
    protocol = tiny("tiny-afew", {"dataset": "rafdb-basic"}, {"dataset": "rafdb-basic", "split": "val"}, target, False)
    protocol["eval"]["clip_vote"] = "majority"
    config = write_config(tmp_path, [protocol], {"rafdb-basic": str(root), "afew": str(afew)})
    assert harness.main(["--config", config]) == 0
    row = list(csv.DictReader(open(tmp_path / "results" / "tiny-afew.csv")))[1]
    assert row["shared_classes"] == "anger happiness surprise"
    assert 0 <= float(row["clip_accuracy"]) <= 1
    summary = json.loads((tmp_path / "runs" / "test-tiny-afew" / "protonet" / "summary.json").read_text())
    assert summary["clip_vote"] == "majority" and "clip_accuracy" in summary["shots"]["1"]


def test_unseen_protocol_with_training_classes_is_refused(tmp_path):
    root = rafdb(tmp_path / "rafdb")
    protocol = tiny("leaky", {"dataset": "rafdb-basic"}, {"dataset": "rafdb-basic", "split": "val"},
                    {"dataset": "rafdb-basic", "split": "test", "classes": ["fear", "anger"]}, True)
    config = write_config(tmp_path, [protocol], {"rafdb-basic": str(root)})
    with pytest.raises(ValueError, match=r"declares its target classes unseen, but \['anger', 'fear'\] are also "
                                         r"training classes of rafdb-basic"):
        harness.main(["--config", config])
    assert not (tmp_path / "runs").exists()  # refused before anything trained


def test_shipped_protocols_are_complete():
    from benchmarks.protocol import PROTOCOL_DIR

    for path in sorted(PROTOCOL_DIR.glob("*.yaml")):
        protocol = harness.load_protocol(str(path))
        assert protocol["name"] == path.stem


def test_a_table_written_mid_run_says_it_is_partial(tmp_path):
    from benchmarks import tables

    protocol = synthetic_protocol("p")
    rows = [{"model": "protonet", "stages": "episodic", "backbone": "conv4", "accuracy": 0.5, "ci95": 0.01,
             "val_accuracy": "", "val_ci95": "", "best_epoch": 3, "faces_seen": 120, "cpu_minutes": 1.0,
             "commit": "abc", "shared_classes": "", "query": 15, "episodes": 10, "_accs": torch.ones(10)}]
    tables.add_paired_differences(rows, "protonet")
    tables.write_tables(protocol, rows, tmp_path, {"_path": "c.yaml"}, planned=3)
    assert "**Partial: 1 of 3 models so far**" in (tmp_path / "p.md").read_text()
    tables.write_tables(protocol, rows, tmp_path, {"_path": "c.yaml"}, planned=1)
    assert "Partial" not in (tmp_path / "p.md").read_text()


@pytest.mark.slow
def test_a_protocol_trained_as_another_scores_its_models_without_training(tmp_path):
    first = synthetic_protocol("tiny-a")
    config = write_config(tmp_path, [first], {})
    second = {**first, "name": "tiny-b", "train_as": str(tmp_path / "tiny-a.yaml"),
              "target": {"dataset": "synthetic-compound", "split": "val"}}
    (tmp_path / "tiny-b.yaml").write_text(yaml.safe_dump(second))
    rewrite_config(config, protocols=[str(tmp_path / "tiny-a.yaml"), str(tmp_path / "tiny-b.yaml")])
    assert harness.main(["--config", config]) == 0
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir() if (p / "harness.json").is_file())
    assert runs == ["tiny-a-protonet"]  # trained once
    a, b = (list(csv.DictReader(open(tmp_path / "results" / f"tiny-{x}.csv")))[1] for x in "ab")
    assert a["commit"] == b["commit"] and a["faces_seen"] == b["faces_seen"]
    assert json.loads((tmp_path / "runs" / "test-tiny-b" / "protonet" / "summary.json").read_text())["split"] == "val"
    second["train"] = {"way": 3, "shot": 1, "query": 1}
    (tmp_path / "tiny-b.yaml").write_text(yaml.safe_dump(second))
    with pytest.raises(ValueError, match=r"trains as .*tiny-a.yaml', so its \['train'\] must equal that protocol's"):
        harness.main(["--config", config])


@pytest.mark.slow
def test_the_rafdb_afew_seed_config_runs_end_to_end_on_fixtures(tmp_path):
    """benchmarks/configs/seed-rafdb-fewshot.yaml with its three protocols (the notes' two shapes and
    the toolkit's), made tiny: RAF-DB basic mixed with AFEW frames, 84 px RGB, step schedule, AFEW val
    clips by majority vote; the models train once for the three tables."""
    from layouts import write_avi

    root = tmp_path / "rafdb"  # enough faces for 5-shot validation episodes on its 15% val share
    write_official(root / "basic", [f"train_{i:05d}.jpg {1 + i % 7}" for i in range(1, 561)] +
                   [f"test_{i:04d}.jpg {1 + i % 7}" for i in range(1, 29)])
    afew = tmp_path / "afew"
    folders = {"Angry": "anger", "Disgust": "disgust", "Fear": "fear", "Happy": "happiness", "Neutral": "neutral",
               "Sad": "sadness", "Surprise": "surprise"}
    n = 0
    for folder, expression in folders.items():
        for split, clips in (("Train_AFEW", 1), ("Val_AFEW", 8)):
            for _ in range(clips):
                n += 1
                write_avi(afew / split / folder / f"{n:09d}.avi", expression, person=n % 5, frames=4)
    config = yaml.safe_load(open("benchmarks/configs/seed-rafdb-fewshot.yaml"))
    assert config["train"]["lr_schedule"] == "step:40:0.5" and config["models"][0]["backbone"] == "resnet12"
    config.update(data_roots={"rafdb-basic": str(root), "afew": str(afew), "rafdb-basic,afew": f"{root},{afew}"},
                  train={**config["train"], "epochs": 1, "episodes_per_epoch": 2, "val_episodes": 2},
                  models=[{"name": "protonet", "learner": "protonet", "backbone": "conv4",
                           "flags": ["--clip-frames", "2"]}],
                  output=str(tmp_path / "runs"), results=str(tmp_path / "results"),
                  keep_duplicates=True)  # the fixtures' rendered frames sit within the near-copy threshold
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump(config))
    assert harness.main(["--config", str(tmp_path / "seed.yaml")]) == 0
    trained = sorted(p.name for p in (tmp_path / "runs").iterdir() if (p / "harness.json").is_file())
    assert trained == ["seed-rafdb-afew-4way5shot-protonet"]
    args = yaml.safe_load((tmp_path / "runs" / trained[0] / "args.yaml").read_text())
    assert (args["dataset"], args["image_size"], args["channels"], args["normalization"], args["lr_schedule"]) == (
        "rafdb-basic,afew", 84, 3, "imagenet", "step:40:0.5")
    assert (args["way"], args["shot"], args["query"]) == (3, 5, 5)
    for tag, way, shot in (("4way5shot", 4, 5), ("7way1shot", 7, 1), ("toolkit", 4, 5)):
        summary = json.loads((tmp_path / "runs" / f"test-seed-rafdb-afew-{tag}" / "protonet" / "summary.json").read_text())
        assert (summary["way"], summary["clip_vote"]) == (way, "majority")
        assert summary["shots"][str(shot)]["episodes"] == (1000 if tag == "toolkit" else 100)
        assert "clip_accuracy" in summary["shots"][str(shot)]


def test_only_names_protocols_of_the_config():
    from benchmarks import run

    with pytest.raises(ValueError, match=r"--only 'nope' is not a protocol of benchmarks/configs/synthetic.yaml"):
        run.main(["--config", "benchmarks/configs/synthetic.yaml", "--only", "nope"])


@pytest.mark.slow
def test_the_lab_protocols_run_end_to_end_on_ck48_and_jaffe_fixtures(tmp_path):
    """benchmarks/configs/fer2013-lab.yaml made tiny: a FER2013 folder layout, CK+48 class folders
    and a jaffedbase/ of real faces pasted into 256 px frames (found by the Haar detector); the model
    trains once and is scored in the six shapes, subjects apart, query lowered to fit."""
    from conftest import shared_data
    from PIL import Image

    from fewshot_fer.labels import BASIC

    fer = tmp_path / "fer2013"
    folders = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    rng = np.random.default_rng(0)
    for c, folder in enumerate(folders):
        for split, prefix, count in (("train", "Training", 22), ("test", "PublicTest", 8), ("test", "PrivateTest", 2)):
            for k in range(count):
                path = fer / split / folder / f"{prefix}_{c * 100 + k}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.clip(30 * c + rng.normal(0, 20, (48, 48)), 0, 255).astype(np.uint8)).save(path)
    ck48 = tmp_path / "ck48"
    for c, name in enumerate(("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")):
        (ck48 / name).mkdir(parents=True)
        for s in range(7):
            face = np.clip(30 * c + rng.normal(0, 20, (48, 48)), 0, 255).astype(np.uint8)
            Image.fromarray(face).save(ck48 / name / f"S{100 + s:03d}_001_0000001{c}.png")
    jaffe = tmp_path / "jaffedbase"
    jaffe.mkdir()
    photos = sorted(shared_data("photos").glob("*.jpg"))
    for c, code in enumerate(("AN", "DI", "FE", "HA", "NE", "SA", "SU")):
        for s, subject in enumerate(("KA", "KL", "KM", "KR", "MK", "NA", "NM")):
            with Image.open(photos[(c + s) % len(photos)]) as im:
                face = im.convert("L").resize((120, 170))
            frame = Image.new("L", (256, 256), 90 + 10 * s)
            frame.paste(face, (40 + 8 * c, 40))
            frame.save(jaffe / f"{subject}.{code}1.{c * 10 + s}.tiff")
    config = yaml.safe_load(open("benchmarks/configs/fer2013-lab.yaml"))
    assert config["models_from"] == "benchmarks/configs/fer2013.yaml"
    config.update(data_roots={"fer2013": str(fer), "ckplus": str(ck48), "jaffe": str(jaffe)},
                  train={"epochs": 1, "episodes_per_epoch": 2, "val_episodes": 2}, models_from=None,
                  models=[{"name": "protonet", "learner": "protonet", "backbone": "conv4"}],
                  output=str(tmp_path / "runs"), results=str(tmp_path / "results"),
                  keep_duplicates=True)  # the fixtures' faces: one grey value per class, copies across people
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump(config))
    assert harness.main(["--config", str(tmp_path / "lab.yaml")]) == 0
    trained = sorted(p.name for p in (tmp_path / "runs").iterdir() if (p / "harness.json").is_file())
    assert trained == ["fer2013-to-ckplus-protonet"]  # once, for all six protocols
    for name, way, shot in (("ckplus", 5, 5), ("ckplus-7way", 7, 5), ("ckplus-1shot", 5, 1),
                            ("jaffe", 5, 5), ("jaffe-7way", 7, 5), ("jaffe-1shot", 5, 1)):
        summary = json.loads((tmp_path / "runs" / f"test-fer2013-to-{name}" / "protonet" / "summary.json").read_text())
        assert (summary["way"], summary["shots"][str(shot)]["episodes"]) == (way, 1000), name
        assert summary["query"] == 7 - shot, (name, summary["query"])  # 7 subjects per class: the rest of them
        assert (tmp_path / "results" / f"fer2013-to-{name}.md").is_file()
    assert sorted(summary["classes"]) == sorted(BASIC)  # JAFFE's seven expressions
