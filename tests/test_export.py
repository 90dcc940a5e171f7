"""fewshot-fer export and predict --model: the exported folder predicts as the checkpoint does,
and open-set rejection ('unknown') follows its calibrated distance threshold."""

import csv
import json

import pytest
import torch

from benchmarks.faults import fixtures as fx
from fewshot_fer.commands import export, predict
from fewshot_fer.models.exported import calibrate_threshold, class_prototypes, nearest_prototype_distance


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_open_set_pieces_by_hand():
    emb = torch.tensor([[0.0, 0.0], [2.0, 0.0], [6.0, 8.0], [3.0, 4.0]])
    protos = class_prototypes(emb[:3], torch.tensor([0, 0, 1]), 2)
    assert protos.tolist() == [[1.0, 0.0], [6.0, 8.0]]
    # [3, 4] is sqrt(4 + 16) from [1, 0] and 5 from [6, 8]
    assert nearest_prototype_distance(emb[3:], protos).tolist() == pytest.approx([20 ** 0.5])
    # the 0.8 quantile of 1..5 (linear): 1 + 0.8 * 4 = 4.2, so one face in five lies beyond it
    assert calibrate_threshold(torch.tensor([5.0, 1.0, 3.0, 2.0, 4.0]), 0.2) == pytest.approx(4.2)
    with pytest.raises(ValueError, match="--reject-rate must be between 0 and 1"):
        calibrate_threshold(torch.ones(3), 1.5)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    support = fx.support(tmp / "support")
    assert export.main(["--checkpoint", str(fx.tiny_run() / "best.pt"), "--support", str(support),
                        "--out", str(tmp / "model"), "--calibration-episodes", "20"]) == 0
    return tmp


def test_the_exported_model_predicts_as_the_checkpoint(exported, tmp_path):
    support, model = exported / "support", exported / "model"
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "support.safetensors", "weights.safetensors"]
    info = json.loads((model / "config.json").read_text())
    assert info["class_names"] == ["frown", "smirk", "wide eyes"] and info["unknown_threshold"] > 0
    assert predict.main(["--model", str(model), "--input", str(support), "--output", str(tmp_path / "a.csv"),
                         "--no-unknown"]) == 0
    assert predict.main(["--checkpoint", str(fx.tiny_run() / "best.pt"), "--support", str(support),
                         "--input", str(support), "--output", str(tmp_path / "b.csv")]) == 0
    a, b = rows(tmp_path / "a.csv"), rows(tmp_path / "b.csv")
    assert [{k: r[k] for k in b[0]} for r in a] == b  # same predictions and probabilities


def test_faces_beyond_the_threshold_are_unknown(exported, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    for f in (exported / "model").iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "p.csv"
    assert predict.main(["--model", str(model), "--input", str(exported / "support"), "--output", str(out)]) == 0
    kept = rows(out)
    threshold = json.loads((model / "config.json").read_text())["unknown_threshold"]
    assert all((r["prediction"] == "unknown") == (float(r["distance"]) > threshold) for r in kept)
    # a threshold below every face's distance: every face is unknown; --no-unknown turns it off
    info = json.loads((model / "config.json").read_text())
    info["unknown_threshold"] = min(float(r["distance"]) for r in kept) / 2
    (model / "config.json").write_text(json.dumps(info))
    assert predict.main(["--model", str(model), "--input", str(exported / "support"), "--output", str(out)]) == 0
    assert {r["prediction"] for r in rows(out)} == {"unknown"}
    assert predict.main(["--model", str(model), "--input", str(exported / "support"), "--output", str(out),
                         "--no-unknown"]) == 0
    assert "unknown" not in {r["prediction"] for r in rows(out)} and "distance" not in rows(out)[0]


def test_broken_model_folders_get_one_sentence(exported, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    with pytest.raises(FileNotFoundError, match=r"--model .*model is not an exported model folder \(missing "
                                                r"config.json, weights.safetensors\)"):
        predict.main(["--model", str(model), "--input", str(exported / "support")])
    for f in (exported / "model").iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    (model / "weights.safetensors").write_text("junk")
    with pytest.raises(ValueError, match=r"--model .*model: its files could not be read"):
        predict.main(["--model", str(model), "--input", str(exported / "support")])
    with pytest.raises(SystemExit):  # --checkpoint without --support: argparse's one line
        predict.main(["--checkpoint", str(fx.tiny_run() / "best.pt"), "--input", str(exported / "support")])


@pytest.mark.slow
def test_a_pretrained_centring_model_exports_too(tmp_path):
    """SimpleShot checkpoints carry the training classes' mean feature (a buffer sized on load)."""
    from fewshot_fer.commands import pretrain

    assert pretrain.main(["--image-size", "24", "--epochs", "1", "--batch-size", "64", "--val-episodes", "5",
                          "--output", str(tmp_path), "--name", "pre"]) == 0
    support = fx.support(tmp_path / "support")
    assert export.main(["--checkpoint", str(tmp_path / "pre" / "best.pt"), "--support", str(support),
                        "--out", str(tmp_path / "model"), "--reject-rate", "0"]) == 0
    for how, source in (("a.csv", ["--model", str(tmp_path / "model")]),
                        ("b.csv", ["--checkpoint", str(tmp_path / "pre" / "best.pt"), "--support", str(support)])):
        assert predict.main([*source, "--input", str(support), "--output", str(tmp_path / how)]) == 0
    assert rows(tmp_path / "a.csv") == rows(tmp_path / "b.csv")


def test_predict_model_crops_inputs_as_the_support_faces_were(tmp_path, capsys):
    support = fx.support(tmp_path / "support")
    assert export.main(["--checkpoint", str(fx.tiny_run() / "best.pt"), "--support", str(support),
                        "--out", str(tmp_path / "model"), "--reject-rate", "0", "--align"]) == 0
    info = json.loads((tmp_path / "model" / "config.json").read_text())
    assert info["preprocessing"] == {"detect_faces": False, "align": True, "face_detector": "none"}
    capsys.readouterr()
    assert predict.main(["--model", str(tmp_path / "model"), "--input", str(support),
                         "--output", str(tmp_path / "p.csv")]) == 0
    out = capsys.readouterr().out
    assert "inputs are cropped as the exported support faces were: --align" in out
    assert "without two eyes found left unaligned" in out  # --align was applied to the inputs
