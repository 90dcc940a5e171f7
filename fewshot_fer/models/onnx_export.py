"""``export --format onnx``: the embedding network with its support set as one ONNX graph, for
runtimes without PyTorch (onnxruntime, ONNX.js, TensorRT).

The graph ``model.onnx`` takes face crops as ``predict`` makes them and gives what ``predict``
computes from them:

- input ``faces``: float32 ``[N, C, S, S]``, pixel values 0-255 (``C`` and ``S`` from
  ``config.json``'s ``model.in_chans`` and ``model.image_size``; grey crops for ``C = 1``);
- output ``probabilities``: ``[N, n_classes]``, in the order of ``config.json``'s ``class_names``;
- output ``distance``: ``[N]``, the Euclidean distance of each face's embedding to the nearest
  class prototype, which ``config.json``'s ``unknown_threshold`` compares (farther: ``unknown``).

The support faces' embeddings are constants of the graph (export again for another support set);
the normalisation of pixel values is inside it. Only learners whose embedding of a face does not
depend on the episode can be exported this way (``episode_independent_embedding``: protonet and
the classifier baselines; not MAML, FEAT's set adaptation or the relation network's).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..data.transforms import to_model_input
from ..learners import FewShotLearner
from .exported import ONNX_FILE, class_prototypes

OPSET = 17  # onnxruntime 1.14 and later run it


class SupportClassifier(nn.Module):
    """``faces [N, C, S, S]`` (0-255) -> ``(probabilities [N, K], distance [N])`` of ``learner``
    fitted on ``support_x`` (float, normalised ``[M, C, S, S]``), ``support_y`` ``[M]`` in 0..K-1."""

    def __init__(self, learner: FewShotLearner, support_x: torch.Tensor, support_y: torch.Tensor,
                 mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        super().__init__()
        if not learner.episode_independent_embedding:
            raise ValueError(f"export --format onnx needs a learner whose embedding of a face is the same in every "
                             f"episode (protonet, simpleshot, ...); {type(learner).__name__} adapts to each support "
                             f"set. Export it without --format onnx.")
        self.learner = learner.eval()
        channels = support_x.shape[1]
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(-1).expand(channels)
                             .reshape(1, channels, 1, 1).clone())
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(-1).expand(channels)
                             .reshape(1, channels, 1, 1).clone())
        with torch.no_grad():
            support_f = learner.embed(support_x)
        self.register_buffer("support_f", support_f)
        self.register_buffer("support_y", support_y.long())
        self.register_buffer("prototypes", class_prototypes(support_f, support_y.long(), int(support_y.max()) + 1))

    def forward(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (faces / 255.0 - self.mean) / self.std
        features = self.learner.embed(x)
        probabilities = self.learner.score(self.support_f, self.support_y, features).softmax(-1)
        # squared distances expanded (a cdist has no ONNX operator); clamped against rounding below 0
        squared = (features.pow(2).sum(1, keepdim=True) - 2 * features @ self.prototypes.T
                   + self.prototypes.pow(2).sum(1)).clamp(min=0)
        return probabilities, squared.min(dim=1).values.sqrt()


def write_onnx(folder: Path, learner: FewShotLearner, config: dict[str, Any], support_x: torch.Tensor,
               support_y: torch.Tensor) -> dict[str, Any]:
    """Write ``folder/model.onnx`` for ``learner`` and its support set (``support_x`` uint8
    ``[M, C, S, S]`` as exported); returns its ``config.json`` entry."""
    support = to_model_input(support_x.cpu(), config["mean"], config["std"])
    model = SupportClassifier(learner.cpu(), support, support_y.cpu(), config["mean"], config["std"]).eval()
    size, channels = config["image_size"], config["in_chans"]
    example = torch.zeros(2, channels, size, size)
    with warnings.catch_warnings():
        # the tracing exporter: the support set's checks and sizes become constants, as intended
        # (torch.export's exporter refuses the support labels' data-dependent checks)
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(folder / ONNX_FILE), input_names=["faces"],
                          output_names=["probabilities", "distance"], dynamic_axes={"faces": {0: "faces"}},
                          opset_version=OPSET, dynamo=False)
    return {"onnx": {"file": ONNX_FILE, "input": f"faces: float32 [N, {channels}, {size}, {size}], pixel values 0-255",
            "outputs": ["probabilities: [N, n_classes] in class_names order",
                        "distance: [N] to the nearest class prototype (above unknown_threshold: unknown)"],
            "opset": OPSET}}
