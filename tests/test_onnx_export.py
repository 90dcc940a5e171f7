"""export --format onnx: model.onnx run by onnxruntime gives predict's probabilities and unknown
distances (within 1e-4) on the shared photos' faces and on the support faces."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.faults import fixtures as fx
from fewshot_fer.backbones.conv4 import Conv4
from fewshot_fer.commands import export, predict
from fewshot_fer.learners.maml import MAML
from fewshot_fer.models.onnx_export import SupportClassifier

ort = pytest.importorskip("onnxruntime", reason="the ONNX test needs onnxruntime: pip install -e '.[test]'")
pytest.importorskip("onnx", reason="export --format onnx needs onnx: pip install -e '.[test]'")
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onnx")
    support = fx.support(tmp / "support")
    assert export.main(["--checkpoint", str(fx.tiny_run() / "best.pt"), "--support", str(support), "--out",
                        str(tmp / "model"), "--calibration-episodes", "20", "--format", "onnx"]) == 0
    return tmp


def faces_of(predictor, paths):
    """Each input's face as predict reads it (detected where asked): uint8 ``[C, S, S]``."""
    faces = [predictor.reader.image(p) for p in paths]
    return [f for f in faces if f is not None]


def test_onnx_runtime_predicts_what_predict_does(onnx_model):
    model = onnx_model / "model"
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "model.onnx", "support.safetensors",
                                                       "weights.safetensors"]
    info = json.loads((model / "config.json").read_text())
    assert info["onnx"]["file"] == "model.onnx" and info["onnx"]["input"].startswith("faces: float32 [N, 1,")
    inputs = sorted((onnx_model / "support").rglob("*.png"))
    if PHOTOS.is_dir():  # uncropped photos: their faces found as predict --detect-faces finds them
        detected = predict.Predictor(predict.build_parser().parse_args(
            ["--model", str(model), "--input", str(PHOTOS), "--detect-faces"]), torch.device("cpu"))
        photo_faces = faces_of(detected, sorted(PHOTOS.iterdir()))
        assert len(photo_faces) >= 3  # the four photos show one face each; Haar may miss one
    else:
        photo_faces = []
    predictor = predict.Predictor(predict.build_parser().parse_args(["--model", str(model), "--input", "x"]),
                                  torch.device("cpu"))
    faces = faces_of(predictor, inputs) + photo_faces
    probs, distance = predictor.probabilities(faces)
    session = ort.InferenceSession(str(model / info["onnx"]["file"]))
    got_probs, got_distance = session.run(None, {"faces": np.stack(faces).astype(np.float32)})
    assert got_probs.shape == (len(faces), 3)
    assert np.abs(got_probs - probs.numpy()).max() < 1e-4
    assert np.abs(got_distance - distance.numpy()).max() < 1e-4 * max(1.0, float(distance.max()))
    # one face at a time too: the batch size is an input dimension, not a constant
    one, _ = session.run(None, {"faces": np.stack(faces[:1]).astype(np.float32)})
    assert np.abs(one - probs[:1].numpy()).max() < 1e-4


def test_a_learner_that_adapts_per_episode_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match=r"export --format onnx needs a learner whose embedding of a face is the same "
                                         r"in every episode .*MAML adapts to each support set"):
        SupportClassifier(MAML(Conv4(in_chans=1)), torch.zeros(2, 1, 24, 24), torch.tensor([0, 1]), 0.5, 0.5)
