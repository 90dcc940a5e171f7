"""What the demo page computes, without the page: fit a model to a few labelled faces, then find
every face in a photo and label it (with its probability, or ``unknown`` beyond the model's
calibrated distance), and draw the boxes. ``page.py`` puts a Gradio page around it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..data.cache import to_8bit
from ..data.faces import FaceCropper
from ..data.images import open_image
from ..data.transforms import to_model_input
from ..models.build import load_trained
from ..models.exported import class_prototypes, load_exported, nearest_prototype_distance
from ..models.shipped import shipped_model

UNKNOWN = "unknown"


@dataclass(frozen=True)
class FaceLabel:
    """One face of a photo: its box (x0, y0, x1, y1), label, the label's probability, and the
    distance to the nearest class prototype (``nan`` without a threshold)."""
    box: tuple[int, int, int, int]
    label: str
    probability: float
    distance: float


class Recognizer:
    """A trained model (``checkpoint``: a training run's ``best.pt``, or ``model``: an exported
    folder, whose support faces are the example support set and whose threshold says ``unknown``;
    neither: the shipped model) with a face detector. ``fit`` it to your faces, then ``recognise``
    every face of a photo."""

    def __init__(self, checkpoint: str | None = None, model: str | None = None, detector: str = "haar",
                 align: bool = False) -> None:
        if checkpoint is not None and model is not None:
            raise ValueError("the demo needs one model: --checkpoint RUN/best.pt or --model FOLDER "
                             "(fewshot-fer export), not both.")
        if checkpoint is None and model is None:
            model = str(shipped_model())
        self.example: tuple[torch.Tensor, torch.Tensor, list[str]] | None = None
        self.threshold = None
        if model is not None:
            self.learner, info, support = load_exported(model)
            self.config, self.threshold = info["model"], info.get("unknown_threshold")
            if support:  # a folder exported without support faces has no example set
                self.example = (support["support_x"], support["support_y"], info["class_names"])
        else:
            self.learner, checkpoint_dict = load_trained(checkpoint, torch.device("cpu"))
            self.config = checkpoint_dict["model_config"]
        self.learner.eval()
        self.cropper = FaceCropper(detector, self.config["image_size"], self.config["in_chans"], align=align)

    def support_face(self, path: Path) -> np.ndarray:
        """The largest face of a support image, or the whole image when none is found (a crop)."""
        with open_image(path) as im:
            rgb = np.asarray(to_8bit(im, 3))
        found = self.cropper.find(rgb)
        return self.cropper.resize_only(rgb) if found is None else self.cropper.crop(rgb, *found)

    def fit(self, classes: Sequence[tuple[str, Sequence[Path]]]) -> "FittedRecognizer":
        """Fit on ``[(name, image files), ...]``: two or more named classes with one image or more."""
        named = [(name.strip(), files) for name, files in classes if name.strip() and files]
        names = [n for n, _ in named]
        if len(named) < 2 or len(set(n.casefold() for n in names)) != len(names):
            raise ValueError(f"name two or more different expressions and give each one face image or more; got "
                             f"{names or 'none'}.")
        faces = [(c, self.support_face(Path(f))) for c, (_, files) in enumerate(named) for f in files]
        x = torch.from_numpy(np.stack([f for _, f in faces]))
        return FittedRecognizer(self, x, torch.tensor([c for c, _ in faces]), names)

    def fit_example(self) -> "FittedRecognizer":
        if self.example is None:
            raise ValueError("this model has no example support faces: start the demo with --model FOLDER "
                             "(made by fewshot-fer export), or give faces for each expression.")
        return FittedRecognizer(self, *self.example)


class FittedRecognizer:
    """A ``Recognizer`` fitted on support faces uint8 ``[N, C, S, S]``, labels ``[N]`` and class names."""

    def __init__(self, recognizer: Recognizer, support_x: torch.Tensor, support_y: torch.Tensor,
                 names: list[str]) -> None:
        self.recognizer, self.names = recognizer, list(names)
        config, learner = recognizer.config, recognizer.learner
        support = to_model_input(support_x, config["mean"], config["std"])
        self.fitted = learner.fit(support, support_y)
        self.prototypes = None  # the class means "unknown" is measured from, with a threshold only
        if recognizer.threshold is not None:
            with torch.no_grad():
                self.prototypes = class_prototypes(learner.embed(support), support_y, len(names))
        self.faces = len(support_y)

    def recognise(self, rgb: np.ndarray) -> list[FaceLabel]:
        """Every face found in an RGB photo ``[H, W, 3]`` uint8, largest first."""
        r = self.recognizer
        found = r.cropper.find_all(rgb)
        if not found:
            return []
        faces = torch.from_numpy(np.stack([r.cropper.crop(rgb, box, points) for box, points in found]))
        x = to_model_input(faces, r.config["mean"], r.config["std"])
        probs = self.fitted.predict_proba(x)
        distance = torch.full((len(x),), float("nan"))
        if r.threshold is not None:  # a second pass through the backbone only when "unknown" is possible
            with torch.no_grad():
                distance = nearest_prototype_distance(r.learner.embed(x), self.prototypes)
        out = []
        for (box, _), p, d in zip(found, probs, distance):
            best = int(p.argmax())
            unknown = r.threshold is not None and float(d) > r.threshold
            out.append(FaceLabel(tuple(int(v) for v in box), UNKNOWN if unknown else self.names[best],
                                 float(p[best]), float(d)))
        return out


def annotate(rgb: np.ndarray, faces: Sequence[FaceLabel]) -> Image.Image:
    """The photo with each face boxed and labelled ``label 0.87`` (``unknown`` in grey)."""
    image = Image.fromarray(rgb).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, min(image.size) // 150)
    try:  # a label readable on a large photo (Pillow 10.1 and later scale the built-in font)
        font = ImageFont.load_default(size=max(12, min(image.size) // 30))
    except TypeError:
        font = ImageFont.load_default()
    for i, face in enumerate(faces, 1):
        colour = (150, 150, 150) if face.label == UNKNOWN else (255, 200, 0)
        draw.rectangle(face.box, outline=colour, width=width)
        text = f"{i}: {face.label} {face.probability:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        x0, y0 = face.box[0], max(0, face.box[1] - (bottom - top) - 2 * width)
        draw.rectangle((x0, y0, x0 + right - left + 2 * width, y0 + bottom - top + 2 * width), fill=colour)
        draw.text((x0 + width - left, y0 + width - top), text, fill=(0, 0, 0), font=font)
    return image


def table(faces: Sequence[FaceLabel]) -> list[list[Any]]:
    """Rows ``[face, label, probability, distance, box]`` for the page's table."""
    return [[i, f.label, round(f.probability, 3), "-" if np.isnan(f.distance) else round(f.distance, 3),
             " ".join(map(str, f.box))] for i, f in enumerate(faces, 1)]
