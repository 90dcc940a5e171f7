"""``fewshot-fer export``: a trained model and your support faces as one folder to hand over
(safetensors weights, ``config.json``, support faces and prototypes), which ``fewshot-fer predict
--model DIR`` reads without the checkpoint or the training run.

With a reject rate (default 5%), a distance threshold for open-set rejection is calibrated on the
run's validation faces: faces farther than it from every support prototype are predicted as
``unknown``, and about that share of faces of known expressions would be too.
"""

from __future__ import annotations

import argparse
import importlib.util
from functools import partial
from pathlib import Path
from typing import Sequence

import torch

from ..data import add_loader_arguments, create_dataset, loader_options
from ..data.base import FaceDataset
from ..data.transforms import to_model_input
from ..devices import resolve_device
from ..evaluation.episodes import embed_items
from ..learners import FewShotLearner
from ..limits import check_limits
from ..models.build import TEST_TIME_OPTIONS, load_trained, parse_options
from ..models.exported import (
    calibrate_threshold,
    check_replaceable,
    class_prototypes,
    load_exported,
    nearest_prototype_distance,
    save_exported,
)
from ..models.onnx_export import write_onnx
from ..models.shipped import shipped_model
from ..training.recipes import recorded_settings
from .cli import add_debug_flag, command_parser, run_cli
from .predict import FaceReader, read_support


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("export", __doc__,
                       "fewshot-fer export --checkpoint runs/X/best.pt --support my_support/ --out my_model/ && "
                       "fewshot-fer predict --model my_model/ --input photos/")
    p.add_argument("--checkpoint", help="best.pt of a training run (train, pretrain); default: the model shipped in "
                                        "the package")
    p.add_argument("--support", help="folder with one subfolder of face images per expression (without it: the "
                                     "network alone, which predict --model then fits to the --support it is given)")
    p.add_argument("--out", required=True, help="folder to write (config.json, weights.safetensors, support.safetensors)")
    p.add_argument("--learner-option", action="append", default=None, metavar="KEY=VALUE",
                   help=f"a test-time option of the checkpoint's learner, kept in the folder (repeatable): "
                        f"{', '.join(TEST_TIME_OPTIONS)}")
    p.add_argument("--format", choices=("folder", "onnx"), default="folder",
                   help="folder: the model folder predict --model reads; onnx: that folder plus model.onnx, the "
                        "network with its support set as one ONNX graph for runtimes without PyTorch (needs onnx: "
                        "pip install 'fewshot-fer[onnx]'; protonet-like learners only)")
    p.add_argument("--detect-faces", action="store_true",
                   help="crop the largest face of every support image (with --face-detector, below)")
    u = p.add_argument_group("open-set rejection ('unknown')")
    u.add_argument("--reject-rate", type=float, default=0.05,
                   help="share of faces of known expressions that the calibrated threshold would call unknown "
                        "(0: no rejection)")
    u.add_argument("--calibrate-on", default=None,
                   help="dataset whose faces calibrate the threshold (default: the run's validation dataset)")
    u.add_argument("--data-root", default=None, help="folder of that dataset (unused for synthetic)")
    u.add_argument("--split", default="val", help="its split (default val: never a test split)")
    u.add_argument("--calibration-episodes", type=int, default=200,
                   help="episodes of the support set's shape (way, shot) drawn for calibration")
    u.add_argument("--seed", type=int, default=0, help="seed of the calibration episodes")
    add_loader_arguments(u)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    add_debug_flag(p)
    return p


@torch.no_grad()
def known_face_distances(learner: FewShotLearner, dataset: FaceDataset, way: int, shot: int, episodes: int,
                         seed: int, device: torch.device, mean: float, std: float) -> torch.Tensor:
    """Nearest-prototype distance of every query ``[episodes * way * query]`` in ``episodes``
    episodes of ``dataset`` shaped like the support set (prototypes from each episode's support)."""
    way = min(way, len(dataset.present_classes()))
    query = dataset.fit_query(shot, 5, "calibration")
    index = torch.tensor([list(e) for e in dataset.episode_sampler(way, shot, query, "evaluation", seed=seed,
                                                                  n_episodes=episodes)])
    unique, inverse = torch.unique(index, return_inverse=True)
    features = embed_items(learner, dataset, unique, device, mean, std).cpu()
    support_y = torch.arange(way).repeat_interleave(shot)
    out = []
    for e in range(len(index)):
        f = features[inverse[e]]
        prototypes = class_prototypes(f[: way * shot], support_y, way)
        out.append(nearest_prototype_distance(f[way * shot:], prototypes))
    return torch.cat(out)


def model_to_export(args: argparse.Namespace, device: torch.device) -> tuple[FewShotLearner, dict, dict]:
    """The learner, its model config (with any test-time options) and its training run's settings
    (empty for the shipped model, which ``--checkpoint`` then names)."""
    test_time = parse_options(args.learner_option, "--learner-option")
    if args.checkpoint:
        learner, checkpoint = load_trained(args.checkpoint, device, test_time=test_time)
        config = {**checkpoint["model_config"],
                  "learner_kwargs": {**checkpoint["model_config"].get("learner_kwargs", {}), **test_time}}
        return learner, config, recorded_settings(checkpoint, args.checkpoint)
    if test_time:
        raise ValueError("--learner-option applies to a --checkpoint; the shipped model keeps its own options.")
    args.checkpoint = str(shipped_model())
    learner, info, _ = load_exported(args.checkpoint, device)
    return learner, info["model"], {}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.reject_rate < 1.0:
        raise ValueError(f"--reject-rate must be at least 0 and below 1, got {args.reject_rate}.")
    if args.calibration_episodes <= 0:
        raise ValueError(f"--calibration-episodes must be positive, got {args.calibration_episodes}.")
    check_limits(vars(args))
    check_replaceable(Path(args.out))  # before any work: never replace a folder of the user's
    if args.format == "onnx" and importlib.util.find_spec("onnx") is None:
        raise ValueError("--format onnx needs the onnx package: pip install 'fewshot-fer[onnx]' (or pip install onnx).")
    if args.format == "onnx" and not args.support:
        raise ValueError("--format onnx needs --support: the ONNX graph holds the support set's prototypes.")
    device = resolve_device(args.device)
    learner, config, run_args = model_to_export(args, device)
    if not args.support:
        save_exported(Path(args.out), learner, config, None, None, None, None, None, str(args.checkpoint))
        print(f"exported {config['learner']}/{config['backbone']} without support faces to {args.out}; use it with: "
              f"fewshot-fer predict --model {args.out} --support MY_SUPPORT --input PHOTOS")
        return 0
    reader = FaceReader(config["image_size"], config["in_chans"], args.detect_faces, args.face_detector or "haar",
                        args.align)
    support_x, support_y, names = read_support(Path(args.support), reader)
    with torch.no_grad():
        embeddings = learner.embed(to_model_input(support_x.to(device), config["mean"], config["std"])).cpu()
    prototypes = class_prototypes(embeddings, support_y, len(names))
    threshold = None
    if args.reject_rate > 0 and not args.calibrate_on and not run_args:
        print("no unknown threshold: the shipped model has no training run to take validation faces from; name "
              "them with --calibrate-on DATASET --data-root DIR")
    elif args.reject_rate > 0:
        name = args.calibrate_on or run_args.get("val_dataset", "synthetic-compound")
        root = args.data_root or (None if args.calibrate_on else run_args.get("val_data_root") or run_args.get("data_root"))
        dataset = create_dataset(name, args.split, root, config["image_size"], config["in_chans"],
                                 **loader_options(vars(args), name))
        shot = int(torch.bincount(support_y).min())
        distances = known_face_distances(learner, dataset, len(names), shot, args.calibration_episodes, args.seed,
                                         device, config["mean"], config["std"])
        threshold = calibrate_threshold(distances, args.reject_rate)
        print(f"unknown threshold {threshold:.4g}: {100 * args.reject_rate:g}% of {len(distances)} {name} {args.split} "
              f"faces lie farther from their episode's prototypes")
    preprocessing = {"detect_faces": args.detect_faces, "align": args.align,
                     "face_detector": (args.face_detector or "haar") if args.detect_faces else "none"}
    save_exported(Path(args.out), learner, config, names, support_x, support_y, prototypes, threshold,
                  str(args.checkpoint), preprocessing,
                  more=partial(write_onnx, learner=learner, config=config, support_x=support_x, support_y=support_y)
                  if args.format == "onnx" else None)
    if args.format == "onnx":
        print(f"model.onnx: faces [N, {config['in_chans']}, {config['image_size']}, {config['image_size']}] (0-255) -> "
              f"probabilities, distance; see config.json's onnx entry")
    print(f"exported {config['learner']}/{config['backbone']} with {len(support_y)} support faces of {len(names)} "
          f"classes ({', '.join(names)}) to {args.out}; use it with: fewshot-fer predict --model {args.out} "
          f"--input PHOTOS")
    return 0


if __name__ == "__main__":
    run_cli(main)
