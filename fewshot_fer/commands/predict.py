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
import os
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..data.afew import VIDEO_SUFFIXES
from ..data.cache import to_8bit, to_face_array
from ..data.faces import DETECTORS, FaceCropper, read_video_frames
from ..data.images import (
    IMAGE_SUFFIXES,
    Listing,
    check_readable_file,
    display_path,
    is_regular_file,
    list_files,
    open_image,
)
from ..data.transforms import to_model_input
from ..devices import resolve_device
from ..evaluation.episodes import CLIP_VOTE_HELP, CLIP_VOTES, clip_vote
from ..limits import check_limits
from ..models.build import load_trained
from ..models.exported import class_prototypes, load_exported, nearest_prototype_distance
from ..models.shipped import shipped_model
from ..training.rundir import check_writable, write_csv
from .cli import add_debug_flag, command_parser, run_cli

PREDICT_BATCH = 256  # faces read before they are embedded: memory stays flat in the number of inputs
EMBED_BATCH = 32  # faces per forward pass: small batches stay in a CPU's cache (benchmarks/results/predict-load.md)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("predict", __doc__,
                       "python -m fewshot_fer.predict --checkpoint runs/X/best.pt --support my_support/ --input "
                       "photos/ clip.avi --detect-faces")
    m = p.add_mutually_exclusive_group()
    m.add_argument("--checkpoint", help="best.pt of a training run (then --support is needed)")
    m.add_argument("--model", help="a folder made by fewshot-fer export: model, support faces and the unknown threshold "
                                   "(default, with neither: the model shipped in the package, which needs --support)")
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
        """The face of one image file (upright, see ``data.images.open_image``), ``None`` when the
        detector finds none; a ``ValueError`` naming the file when it cannot be read."""
        try:
            with open_image(path) as im:
                if not self.crop:
                    return to_face_array(im, self.image_size, self.channels)
                rgb = np.asarray(to_8bit(im, 3))
        except OSError as err:
            raise ValueError(f"image {display_path(path)} could not be read ({err}).") from None
        return self.cropper(rgb)

    def video(self, path: Path, frames: int) -> list[tuple[int, np.ndarray | None]]:
        return [(i, self.cropper(f)) for i, f in enumerate(read_video_frames(path, frames))]


def read_support(root: Path, reader: FaceReader) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The support faces under ``root/<class>/`` (any depth), their labels and the class names
    (the folder names, sorted). Refused in one sentence: fewer than two classes, two folder names
    that differ only in case or surrounding spaces, a class with no usable face."""
    if not root.is_dir():
        raise FileNotFoundError(f"support folder {display_path(root)} does not exist.")
    classes = sorted(d for d in root.iterdir() if d.is_dir())
    if len(classes) < 2:
        raise ValueError(f"support folder {display_path(root)} needs at least two class subfolders of face images, "
                         f"found {[display_path(d.name) for d in classes]}.")
    folded: dict[str, str] = {}
    for d in classes:
        other = folded.setdefault(d.name.strip().casefold(), d.name)
        if other != d.name:
            raise ValueError(f"support class folders {display_path(other)!r} and {display_path(d.name)!r} differ only "
                             f"in case or spaces; rename or merge them so each expression has one folder.")
    faces, labels, skipped = [], [], []
    for c, folder in enumerate(classes):
        listing = list_files(folder)
        skipped += listing.special
        found = [face for face in (reader.image(f) for f in listing.files) if face is not None]
        if not found:
            raise ValueError(f"support class folder {display_path(folder)} has no usable face image "
                             f"({', '.join(sorted(IMAGE_SUFFIXES))}).")
        faces += found
        labels += [c] * len(found)
    if skipped:
        warnings.warn(f"support folder {display_path(root)}: {Listing(special=skipped).note()}", stacklevel=2)
    return torch.from_numpy(np.stack(faces)), torch.tensor(labels), [d.name for d in classes]


def collect_inputs(items: Sequence[str]) -> tuple[list[Path], list[Path]]:
    """The files to predict, in order (folders: their images and videos, recursively, sorted), and
    the paths named like images or videos that are not regular files (skipped, never opened)."""
    paths, special = [], []
    for item in items:
        path = Path(item)
        if path.is_dir():
            listing = list_files(path, IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            paths += listing.files
            special += listing.special
        elif is_regular_file(path):
            paths.append(path)
        elif os.path.lexists(path):
            special.append(path)
        else:
            raise FileNotFoundError(f"input {display_path(path)} does not exist.")
    if not paths and not special:
        raise FileNotFoundError(f"no images or videos ({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))}) found in "
                                f"{[display_path(i) for i in items]}.")
    return paths, special


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.checkpoint and not args.support:
        parser.error("--checkpoint needs --support (a folder of class subfolders of faces); an exported --model "
                     "brings its own.")
    if not args.checkpoint and not args.model:
        if not args.support:
            parser.error("the shipped model needs --support (a folder of class subfolders of faces); or name a model: "
                         "--checkpoint RUN/best.pt or --model FOLDER.")
        args.model = str(shipped_model())
    check_writable(args.output, "--output")  # before the model and the support set are read
    if args.clip_frames < 1:
        raise ValueError(f"--clip-frames must be at least 1, got {args.clip_frames}.")
    check_limits(vars(args))
    predictor = Predictor(args, resolve_device(args.device))
    paths, special = collect_inputs(args.input)
    rows = [{"input": display_path(p), "frame": "", "prediction": "skipped: not a regular file"} for p in special]
    start = time.perf_counter()
    rows, unreadable = predictor.predict_files(paths, args, rows)
    seconds = time.perf_counter() - start
    write_csv(args.output, rows)
    width = max(len(r["input"]) for r in rows)
    for r in rows:
        if r["frame"] in ("", "clip"):
            where = r["input"] + (" (clip)" if r["frame"] == "clip" else "")
            print(f"{where:<{width + 7}}  {r['prediction']:<20} {r.get('confidence', '')}")
    cropper = predictor.reader.cropper
    faces = sum(r["frame"] != "clip" and "confidence" in r for r in rows)
    print(f"{len(predictor.support_y)} support faces of {len(predictor.names)} classes ({', '.join(predictor.names)}); "
          f"{faces} faces of {len(paths)} inputs read and predicted in {seconds:.1f} s ({faces / max(seconds, 1e-9):.0f} "
          f"faces/s); predictions written to {args.output}"
          f"{f'; {unreadable} unreadable input(s) skipped (--strict stops instead)' if unreadable else ''}"
          f"{f'; {len(special)} path(s) that are not regular files (pipes, devices, sockets, broken links) skipped' if special else ''}"
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
            if not exported and not args.support:
                raise ValueError(f"--model {args.model} was exported without support faces: give --support (a folder "
                                 f"of class subfolders of faces).")
            support_x, self.support_y = exported.get("support_x"), exported.get("support_y")
            match_preprocessing(args, info.get("preprocessing") or {})
        else:
            self.learner, checkpoint = load_trained(args.checkpoint, device)  # channels-last, as below
            config = checkpoint["model_config"]
        # channels-last lets oneDNN pick faster convolution and pooling kernels: about half the
        # time per face on a CPU (benchmarks/results/predict-load.md)
        self.learner = self.learner.to(memory_format=torch.channels_last)
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

    def read(self, path: Path, args: argparse.Namespace) -> list[tuple[str, np.ndarray | None]]:
        """The faces of one input: ``[("", face)]`` for an image, ``[(frame, face), ...]`` for a
        video (``face`` ``None`` where none was found); a ``ValueError`` or ``OSError`` when unreadable."""
        if path.suffix.lower() in VIDEO_SUFFIXES:
            check_readable_file(path, "video")
            return [(str(i), f) for i, f in self.reader.video(path, args.clip_frames)]
        return [("", self.reader.image(path))]

    def predict_files(self, paths: list[Path], args: argparse.Namespace, rows: list[dict]) -> tuple[list[dict], int]:
        """``rows`` extended by the rows of every input, and how many inputs were unreadable.
        Inputs are read a group at a time and their faces embedded in one batch (``PREDICT_BATCH``
        faces at most), so memory stays flat in the number of inputs."""
        unreadable, group, faces = 0, [], 0

        def flush() -> None:
            found = [f for _, read in group for _, f in read if f is not None]
            probs, dist = self.probabilities(found) if found else (None, None)
            at = 0
            for path, read in group:
                n = sum(f is not None for _, f in read)
                part = (probs[at:at + n], None if dist is None else dist[at:at + n]) if n else (None, None)
                at += n
                rows.extend(self.input_rows(path, read, part, args.clip_vote))
            group.clear()

        for path in tqdm(paths, desc="predicting", unit="input", disable=None, leave=False):
            try:
                read = self.read(path, args)
            except (OSError, ValueError) as err:
                if args.strict:
                    raise ValueError(f"input {display_path(path)} could not be read ({err}); fix or remove it, or "
                                     f"drop --strict to skip unreadable inputs.") from None
                unreadable += 1
                rows.append({"input": display_path(path), "frame": "", "prediction": f"unreadable: {err}"})
                continue
            group.append((path, read))
            faces += len(read)
            if faces >= PREDICT_BATCH:
                flush()
                faces = 0
        flush()
        return rows, unreadable

    def probabilities(self, faces: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class probabilities ``[F, n_classes]`` and, with a threshold, nearest-prototype distances ``[F]``."""
        x = to_model_input(torch.from_numpy(np.stack(faces)).to(self.device), self.config["mean"], self.config["std"])
        x = x.contiguous(memory_format=torch.channels_last)
        probs = self.fitted.predict_proba(x, batch_size=EMBED_BATCH).cpu()
        if self.threshold is None:
            return probs, None
        with torch.no_grad():
            embedded = torch.cat([self.learner.embed(chunk).cpu() for chunk in x.split(EMBED_BATCH)])
        return probs, nearest_prototype_distance(embedded, self.prototypes)

    def input_rows(self, path: Path, read: list[tuple[str, np.ndarray | None]],
                   scored: tuple[torch.Tensor | None, torch.Tensor | None], vote: str) -> list[dict]:
        """The rows of one input: an image's one row; a video's row per frame with a face, then
        the clip's row (its frames' vote). ``scored``: the probabilities and distances of the
        input's found faces, in order."""
        probs, dist = scored
        if probs is None:
            return [{"input": display_path(path), "frame": "", "prediction": "no face found"}]
        frames = [frame for frame, f in read if f is not None]
        distance = (lambda k: None) if dist is None else (lambda k: float(dist[k]))  # noqa: E731
        rows = [row(path, frame, p, self.names, distance=distance(k), threshold=self.threshold)
                for k, (frame, p) in enumerate(zip(frames, probs))]
        if path.suffix.lower() in VIDEO_SUFFIXES:
            scores = clip_vote(probs, torch.zeros(len(probs), dtype=torch.long), 1, vote)[0]
            rows.append(row(path, "clip", probs.mean(0), self.names, winner=int(scores.argmax()),
                            distance=None if dist is None else float(dist.mean()), threshold=self.threshold))
        return rows


def match_preprocessing(args: argparse.Namespace, prep: dict[str, Any]) -> None:
    """Crop the inputs as the exported support faces were (``--detect-faces``, ``--align``, detector)."""
    if (prep.get("detect_faces") and not args.detect_faces) or (prep.get("align") and not args.align):
        args.detect_faces, args.align = args.detect_faces or prep["detect_faces"], args.align or prep["align"]
        if prep.get("detect_faces") and prep.get("face_detector") not in (None, "none"):
            detector = prep["face_detector"]  # checked: a detector's name, or a cascade file inside the folder
            args.face_detector = detector if detector in DETECTORS else str(Path(args.model) / detector)
        flags = [flag for flag, on in (("--detect-faces", args.detect_faces), ("--align", args.align)) if on]
        print(f"inputs are cropped as the exported support faces were: {' '.join(flags)}")


def row(path: Path, frame: str, probs: torch.Tensor, names: list[str], winner: int | None = None,
        distance: float | None = None, threshold: float | None = None) -> dict:
    """One CSV row: the class probabilities (a clip's: their mean over its frames) and the
    prediction (their arg-max, or the clip vote's ``winner``; ``unknown`` when the face's
    nearest-prototype ``distance`` exceeds ``threshold``)."""
    best = int(probs.argmax()) if winner is None else winner
    unknown = distance is not None and threshold is not None and distance > threshold
    out = {"input": display_path(path), "frame": frame, "prediction": "unknown" if unknown else names[best],
           "confidence": f"{float(probs[best]):.3f}", **{f"p_{n}": f"{float(v):.4f}" for n, v in zip(names, probs)}}
    if distance is not None:
        out["distance"] = f"{distance:.4g}"
    return out


if __name__ == "__main__":
    run_cli(main)
