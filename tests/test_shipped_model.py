"""The model shipped in the package: predict, export, the demo's recogniser and
``fewshot_fer.load_pretrained()`` use it when no model is named; a folder exported without support
faces is fitted to the --support it is given."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data

from benchmarks.faults import fixtures as fx
from fewshot_fer.commands import export, predict
from fewshot_fer.models.exported import SUPPORT_FILE, load_exported
from fewshot_fer.models.shipped import MODEL_CARD, SHIPPED_MODEL

SUPPORT_CLASSES = ("anger", "happiness", "sadness", "surprise")


def lfw_support(tmp: Path, per_class: int = 5) -> Path:
    """A support folder of lfw-expressions faces (links): none of the person in the shared photos."""
    lfw = shared_data("lfw-expressions")
    for name in SUPPORT_CLASSES:
        (tmp / name).mkdir(parents=True)
        for path in sorted((lfw / name).glob("*.jpg"))[:per_class]:
            (tmp / name / path.name).symlink_to(path)
    return tmp


def test_the_shipped_model_is_a_network_folder_with_its_card():
    learner, info, support = load_exported(SHIPPED_MODEL)
    assert support == {} and info["class_names"] is None and info["unknown_threshold"] is None
    assert not (SHIPPED_MODEL / SUPPORT_FILE).exists()
    assert info["model"]["image_size"] == 48 and info["model"]["in_chans"] == 1
    card = MODEL_CARD.read_text()
    for needed in ("FER2013", "licence", "benchmarks/configs/shipped-dev.yaml", "688a89d", "Intended use", "Limits"):
        assert needed in card, needed


def test_predict_with_the_shipped_model_and_lfw_faces_of_other_people(tmp_path):
    support = lfw_support(tmp_path / "support")
    photos = shared_data("photos")
    out = tmp_path / "p.csv"
    assert predict.main(["--support", str(support), "--input", str(photos), "--detect-faces",
                         "--output", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and all(r["prediction"] in SUPPORT_CLASSES for r in rows)
    probabilities = np.array([[float(r[f"p_{c}"]) for c in SUPPORT_CLASSES] for r in rows])
    assert np.allclose(probabilities.sum(1), 1, atol=1e-3)


def test_the_shipped_model_needs_a_support_set(tmp_path, capsys):
    with pytest.raises(SystemExit):
        predict.main(["--input", str(tmp_path), "--output", str(tmp_path / "p.csv")])
    assert "the shipped model needs --support" in capsys.readouterr().err


def test_a_folder_exported_without_support_faces_is_fitted_to_the_given_ones(tmp_path):
    support = fx.support(tmp_path / "support")
    model = tmp_path / "model"
    assert export.main(["--checkpoint", str(fx.tiny_run() / "best.pt"), "--out", str(model),
                        "--learner-option", "flip=true"]) == 0
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "weights.safetensors"]
    info = json.loads((model / "config.json").read_text())
    assert info["class_names"] is None and info["model"]["learner_kwargs"]["flip"] is True  # a test-time option kept
    with pytest.raises(ValueError, match="'distance' cannot change after training"):
        export.main(["--checkpoint", str(fx.tiny_run() / "best.pt"), "--out", str(tmp_path / "d"),
                     "--learner-option", "distance=cosine"])
    with pytest.raises(ValueError, match="was exported without support faces: give --support"):
        predict.main(["--model", str(model), "--input", str(support), "--output", str(tmp_path / "p.csv")])
    assert predict.main(["--model", str(model), "--support", str(support), "--input", str(support),
                         "--output", str(tmp_path / "p.csv")]) == 0
    with pytest.raises(ValueError, match="--format onnx needs --support"):
        export.main(["--checkpoint", str(fx.tiny_run() / "best.pt"), "--out", str(tmp_path / "o"), "--format", "onnx"])


def test_export_of_the_shipped_model_with_a_support_set(tmp_path, capsys):
    support = lfw_support(tmp_path / "support", per_class=2)
    assert export.main(["--support", str(support), "--out", str(tmp_path / "mine")]) == 0
    assert "no unknown threshold: the shipped model has no training run" in capsys.readouterr().out
    _, info, exported = load_exported(tmp_path / "mine")
    assert info["class_names"] == list(SUPPORT_CLASSES) and len(exported["support_y"]) == 8


def test_load_pretrained_fits_faces_and_recognises_a_photo():
    import fewshot_fer
    from fewshot_fer.data.images import open_image

    lfw, photos = shared_data("lfw-expressions"), shared_data("photos")
    model = fewshot_fer.load_pretrained()
    fitted = model.fit([(name, sorted((lfw / name).glob("*.jpg"))[:3]) for name in SUPPORT_CLASSES])
    with open_image(next(photos.glob("surprise-*.jpg"))) as im:
        faces = fitted.recognise(np.asarray(im.convert("RGB")))
    assert len(faces) >= 1 and faces[0].label in SUPPORT_CLASSES and 0 < faces[0].probability <= 1


def test_the_shipped_model_as_onnx_predicts_what_predict_does(tmp_path):
    """The shipped model's views (mirror and one-pixel shifts) and its centring go into the graph too."""
    ort = pytest.importorskip("onnxruntime", reason="the ONNX test needs onnxruntime: pip install -e '.[test]'")
    pytest.importorskip("onnx", reason="export --format onnx needs onnx: pip install -e '.[test]'")
    import torch

    support = lfw_support(tmp_path / "support", per_class=3)
    assert export.main(["--support", str(support), "--out", str(tmp_path / "m"), "--format", "onnx"]) == 0
    predictor = predict.Predictor(predict.build_parser().parse_args(["--model", str(tmp_path / "m"), "--input", "x"]),
                                  torch.device("cpu"))
    faces = [predictor.reader.image(p) for p in sorted(support.rglob("*.jpg"))]
    probs, _ = predictor.probabilities(faces)
    session = ort.InferenceSession(str(tmp_path / "m" / "model.onnx"))
    got, _ = session.run(None, {"faces": np.stack(faces).astype(np.float32)})
    assert np.abs(got - probs.numpy()).max() < 1e-4


def test_the_demo_recogniser_uses_the_shipped_model_which_has_no_example_faces():
    from fewshot_fer.demo.recognizer import Recognizer

    recognizer = Recognizer()
    assert recognizer.example is None and recognizer.threshold is None
    with pytest.raises(ValueError, match="this model has no example support faces"):
        recognizer.fit_example()
