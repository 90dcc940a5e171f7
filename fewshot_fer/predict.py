"""``python -m fewshot_fer.predict``: recognise expressions in your own photos and clips from a
few labelled examples.

The support folder holds one subfolder per expression (any names: ``smirk/``, ``happily_surprised/``)
with a few face images each. The model is fitted to it once, then every input image, every image
of an input folder (recursively) and every sampled frame of an input video is classified. Writes a
CSV with the class probabilities (per frame, and per clip: their mean, with the clip's vote) and prints a
short table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from .cli import HelpFormatter, add_debug_flag, resolve_device, run_cli
from .data.afew import VIDEO_SUFFIXES
from .data.cache import IMAGE_SUFFIXES, to_8bit, to_face_array
from .data.faces import FaceCropper, read_video_frames
from .data.transforms import to_model_input
from .engine.evaluation import CLIP_VOTE_HELP, CLIP_VOTES, clip_vote
from .engine.rundir import check_writable, write_csv
from .exported import class_prototypes, load_exported, nearest_prototype_distance
from .model import load_trained


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fewshot_fer.predict", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[0],
                                epilog="Example: python -m fewshot_fer.predict --checkpoint runs/X/best.pt "
                                       "--support my_support/ --input photos/ clip.avi --detect-faces")
    m = p.add_mutually_exclusive_group(required=True)
    m.add_argument("--checkpoint", help="best.pt of a training run (then --support is needed)")
    m.add_argument("--model", help="a folder made by fewshot-fer export: model, support faces and the unknown threshold")
    p.add_argument("--support", help="folder with one subfolder of face images per expression (with --model: "
                                     "replaces the exported support faces; rejection keeps the exported threshold)")
    p.add_argument("--no-unknown", action="store_true",
                   help="with --model: never answer 'unknown' (no open-set rejection)")
    p.add_argument("--input", required=True, nargs="+", help="image files, folders of images, or video files")
    p.add_argument("--detect-faces", action="store_true",
                   help="find and crop the largest face in every image and frame (--face-detector); "
                        "without it images are used whole (videos: their centre square)")
    p.add_argument("--face-detector", default="haar",
                   help="with --detect-faces: 'haar' (OpenCV's bundled cascade), 'mtcnn' (facenet-pytorch: five "
                        "landmarks, faces turned further) or a cascade XML file")
    p.add_argument("--align", action="store_true",
                   help="rotate and scale every face so its landmarks sit at fixed points (mtcnn: five points; "
                        "otherwise the two eyes, Haar eye cascade); "
                        "use the same setting for the support faces (export --align)")
    p.add_argument("--clip-frames", type=int, default=16, help="frames sampled evenly from each video")
    p.add_argument("--clip-vote", default="mean", choices=CLIP_VOTES, help=CLIP_VOTE_HELP)
    p.add_argument("--strict", action="store_true",
                   help="stop at the first unreadable input instead of skipping it (skipped inputs get a row "
                        "saying why and are counted, as training skips unreadable images)")
    p.add_argument("--output", default="predictions.csv", help="CSV of the predictions")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    add_debug_flag(p)
    return p


class FaceReader:
    """Turns image files and video frames into model-sized uint8 faces ``[C, S, S]``."""

    def __init__(self, image_size: int, channels: int, detect: bool, detector: str, align: bool = False) -> None:
        self.cropper = FaceCropper(detector if detect else "none", image_size, channels, align=align)
        self.crop, self.image_size, self.channels = detect or align, image_size, channels

    def image(self, path: Path) -> np.ndarray | None:
        try:
            with Image.open(path) as im:
                if not self.crop:
                    return to_face_array(im, self.image_size, self.channels)
                rgb = np.asarray(to_8bit(im, 3))
        except (OSError, Image.DecompressionBombError) as err:
            raise ValueError(f"image {path} could not be read ({err}).") from None
        return self.cropper(rgb)

    def video(self, path: Path, frames: int) -> list[tuple[int, np.ndarray | None]]:
        return [(i, self.cropper(f)) for i, f in enumerate(read_video_frames(path, frames))]


def read_support(root: Path, reader: FaceReader) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    if not root.is_dir():
        raise FileNotFoundError(f"support folder {root} does not exist.")
    classes = sorted(d for d in root.iterdir() if d.is_dir())
    if len(classes) < 2:
        raise ValueError(f"support folder {root} needs at least two class subfolders of face images, "
                         f"found {[d.name for d in classes]}.")
    faces, labels = [], []
    for c, folder in enumerate(classes):
        files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        found = [face for face in (reader.image(f) for f in files) if face is not None]
        if not found:
            raise ValueError(f"support class folder {folder} has no usable face image.")
        faces += found
        labels += [c] * len(found)
    return torch.from_numpy(np.stack(faces)), torch.tensor(labels), [d.name for d in classes]


def collect_inputs(items: Sequence[str]) -> list[Path]:
    paths = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths += sorted(f for f in path.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        elif path.is_file():
            paths.append(path)
        else:
            raise FileNotFoundError(f"input {path} does not exist.")
    if not paths:
        raise FileNotFoundError(f"no images or videos found in {list(items)}.")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.checkpoint and not args.support:
        parser.error("--checkpoint needs --support (a folder of class subfolders of faces); an exported --model "
                     "brings its own.")
    check_writable(args.output, "--output")  # before the model and the support set are read
    predictor = Predictor(args, resolve_device(args.device))
    rows, unreadable = [], 0
    for path in collect_inputs(args.input):
        try:
            is_video = path.suffix.lower() in VIDEO_SUFFIXES
            read = predictor.reader.video(path, args.clip_frames) if is_video else predictor.reader.image(path)
        except (OSError, ValueError) as err:
            if args.strict:
                raise ValueError(f"input {path} could not be read ({err}); fix or remove it, or drop --strict "
                                 f"to skip unreadable inputs.") from None
            unreadable += 1
            rows.append({"input": str(path), "frame": "", "prediction": f"unreadable: {err}"})
            continue
        rows += predictor.video_rows(path, read, args.clip_vote) if is_video else predictor.image_rows(path, read)
    write_csv(args.output, rows)
    width = max(len(r["input"]) for r in rows)
    for r in rows:
        if r["frame"] in ("", "clip"):
            where = r["input"] + (" (clip)" if r["frame"] == "clip" else "")
            print(f"{where:<{width + 7}}  {r['prediction']:<20} {r.get('confidence', '')}")
    cropper = predictor.reader.cropper
    print(f"{len(predictor.support_y)} support faces of {len(predictor.names)} classes ({', '.join(predictor.names)}); "
          f"predictions written to {args.output}"
          f"{f'; {unreadable} unreadable input(s) skipped (--strict stops instead)' if unreadable else ''}"
          f"{f'; {cropper.aligned} face(s) aligned, {cropper.unaligned} without two eyes found left unaligned' if args.align else ''}")
    return 0


class Predictor:
    """A model adapted to its support faces (a training checkpoint with ``--support``, or an
    exported ``--model`` folder, whose support faces ``--support`` may replace), with the face
    reader for the inputs and, unless ``--no-unknown``, the open-set threshold and prototypes."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        self.device, threshold, exported = device, None, None
        if args.model:
            self.learner, info, exported = load_exported(args.model, device)
            config, self.names, threshold = info["model"], info["class_names"], info.get("unknown_threshold")
            support_x, self.support_y = exported["support_x"], exported["support_y"]
            match_preprocessing(args, info.get("preprocessing") or {})
        else:
            self.learner, checkpoint = load_trained(args.checkpoint, device)
            config = checkpoint["model_config"]
        self.config = config
        self.reader = FaceReader(config["image_size"], config["in_chans"], args.detect_faces, args.face_detector,
                                 args.align)
        if args.support:
            support_x, self.support_y, self.names = read_support(Path(args.support), self.reader)
        support = to_model_input(support_x.to(device), config["mean"], config["std"])
        self.fitted = self.learner.fit(support, self.support_y.to(device))
        self.threshold = None if args.no_unknown else threshold
        self.prototypes = None
        if self.threshold is not None and not args.support:
            self.prototypes = exported["prototypes"]  # the exported support faces' own
        elif self.threshold is not None:
            with torch.no_grad():
                self.prototypes = class_prototypes(self.learner.embed(support).cpu(), self.support_y, len(self.names))

    def probabilities(self, faces: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class probabilities ``[F, n_classes]`` and, with a threshold, nearest-prototype distances ``[F]``."""
        x = to_model_input(torch.from_numpy(np.stack(faces)).to(self.device), self.config["mean"], self.config["std"])
        probs = self.fitted.predict_proba(x).cpu()
        if self.threshold is None:
            return probs, None
        with torch.no_grad():
            return probs, nearest_prototype_distance(self.learner.embed(x).cpu(), self.prototypes)

    def image_rows(self, path: Path, face: np.ndarray | None) -> list[dict]:
        if face is None:
            return [{"input": str(path), "frame": "", "prediction": "no face found"}]
        probs, dist = self.probabilities([face])
        return [row(path, "", probs[0], self.names, distance=None if dist is None else float(dist[0]),
                    threshold=self.threshold)]

    def video_rows(self, path: Path, read: list[tuple[int, np.ndarray | None]], vote: str) -> list[dict]:
        """One row per frame with a face, then the clip's row (its frames' vote)."""
        frames = [(i, f) for i, f in read if f is not None]
        if not frames:
            return [{"input": str(path), "frame": "", "prediction": "no face found"}]
        probs, dist = self.probabilities([f for _, f in frames])
        rows = [row(path, str(i), p, self.names, distance=None if dist is None else float(dist[k]),
                    threshold=self.threshold) for k, ((i, _), p) in enumerate(zip(frames, probs))]
        scores = clip_vote(probs, torch.zeros(len(probs), dtype=torch.long), 1, vote)[0]
        rows.append(row(path, "clip", probs.mean(0), self.names, winner=int(scores.argmax()),
                        distance=None if dist is None else float(dist.mean()), threshold=self.threshold))
        return rows


def match_preprocessing(args: argparse.Namespace, prep: dict[str, Any]) -> None:
    """Crop the inputs as the exported support faces were (``--detect-faces``, ``--align``, detector)."""
    if (prep.get("detect_faces") and not args.detect_faces) or (prep.get("align") and not args.align):
        args.detect_faces, args.align = args.detect_faces or prep["detect_faces"], args.align or prep["align"]
        if prep.get("detect_faces") and prep.get("face_detector") not in (None, "none"):
            args.face_detector = prep["face_detector"]
        flags = [flag for flag, on in (("--detect-faces", args.detect_faces), ("--align", args.align)) if on]
        print(f"inputs are cropped as the exported support faces were: {' '.join(flags)}")


def row(path: Path, frame: str, probs: torch.Tensor, names: list[str], winner: int | None = None,
        distance: float | None = None, threshold: float | None = None) -> dict:
    """One CSV row: the class probabilities (a clip's: their mean over its frames) and the
    prediction (their arg-max, or the clip vote's ``winner``; ``unknown`` when the face's
    nearest-prototype ``distance`` exceeds ``threshold``)."""
    best = int(probs.argmax()) if winner is None else winner
    unknown = distance is not None and threshold is not None and distance > threshold
    out = {"input": str(path), "frame": frame, "prediction": "unknown" if unknown else names[best],
           "confidence": f"{float(probs[best]):.3f}", **{f"p_{n}": f"{float(v):.4f}" for n, v in zip(names, probs)}}
    if distance is not None:
        out["distance"] = f"{distance:.4g}"
    return out


if __name__ == "__main__":
    run_cli(main)
