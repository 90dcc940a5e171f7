"""``fewshot-fer data check``: what a dataset folder holds, and what is wrong with it;
``fewshot-fer data cache [--clear]``: the decoded-image cache's size, or emptying it
(also ``python -m fewshot_fer.data ...``)."""

from __future__ import annotations

import argparse
import warnings
from typing import Sequence

import torch

from ..data import DATASETS, SPLITS, add_loader_arguments, create_dataset, dataset_splits, loader_options
from ..data.cache import cache_root, cache_size, clear_cache
from ..data.catalog import near_threshold
from ..data.duplicates import copies_of, copies_within, find_duplicates
from .cli import HelpFormatter, add_debug_flag, run_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fewshot_fer.data",
                                description="Inspect a dataset as fewshot-fer reads it.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="count items and groups per split and class, and list problems; "
                                     "exit status 1 when a split cannot be loaded",
                       formatter_class=HelpFormatter)
    c.add_argument("--dataset", required=True, help=f"one of: {', '.join(DATASETS.names())}")
    c.add_argument("--data-root", default=None, help="folder of the dataset as unpacked")
    c.add_argument("--splits", default=None,
                   help=f"comma-separated splits to check (default: every labelled split, {','.join(SPLITS)})")
    c.add_argument("--image-size", type=int, default=48, help="decode size (fills the cache for training)")
    c.add_argument("--channels", type=int, default=1, choices=(1, 3), help="1 grayscale, 3 RGB")
    add_loader_arguments(c)
    k = sub.add_parser("cache", help="show the decoded-image cache's folder and size; --clear empties it",
                       formatter_class=HelpFormatter)
    k.add_argument("--cache-dir", default=None,
                   help="cache folder (default: $FEWSHOT_FER_CACHE, else ~/.cache/fewshot-fer)")
    k.add_argument("--clear", action="store_true",
                   help="delete the files the cache's manifest lists as written by fewshot-fer (decoded arrays, "
                        "damaged entries moved aside, temporary files) and nothing else; a folder without a manifest "
                        "is refused. The next run decodes the images again")
    add_debug_flag(p)
    return p


def cache(args: argparse.Namespace) -> int:
    root = cache_root(args.cache_dir)
    if args.clear:
        files, freed = clear_cache(root)
        print(f"cache {root}: removed {files} files, {freed / 2**20:.1f} MB")
    else:
        entries, size = cache_size(root)
        print(f"cache {root}: {entries} entries, {size / 2**20:.1f} MB (fewshot-fer data cache --clear "
              f"empties it)")
    return 0


def check(args: argparse.Namespace) -> int:
    unusable = 0
    loaded = []
    splits = args.splits.split(",") if args.splits else dataset_splits(args.dataset)
    for split in [s.strip() for s in splits if s.strip()]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = create_dataset(args.dataset, split, args.data_root, args.image_size, args.channels,
                                    **loader_options(vars(args), args.dataset))
            except (ValueError, FileNotFoundError) as err:
                print(f"[{split}] unusable: {err}")
                unusable += 1
                continue
        counts = torch.bincount(ds.labels, minlength=len(ds.class_names))
        print(f"[{split}] {len(ds)} images, {len(ds.present_classes())} classes, "
              f"{'no group ids' if ds.groups is None else f'{len(torch.unique(ds.groups))} groups'}")
        width = max(len(n) for n in ds.class_names)
        for c, name in enumerate(ds.class_names):
            if counts[c] == 0:
                continue
            line = f"  {name:<{width}}  {int(counts[c]):>7} images"
            if ds.groups is not None:
                line += f"  {len(torch.unique(ds.groups[ds.labels == c])):>6} groups"
            print(line)
        for w in caught:
            print(f"  problem: {w.message}")
        report_duplicates(ds, loaded, near_threshold(args.dataset))
        loaded.append(ds)
    if len(loaded) > 1:
        every = find_duplicates(torch.cat([d.images for d in loaded]), torch.cat([d.labels for d in loaded]))
        print(f"[all splits] {len(every.groups)} groups of identical images, {len(every.conflicting)} with "
              f"conflicting labels")
    entries, size = cache_size(args.cache_dir)
    print(f"decoded-image cache {cache_root(args.cache_dir)}: {entries} entries, {size / 2**20:.1f} MB")
    return 1 if unusable else 0


def report_duplicates(ds, earlier: list, threshold: int | None) -> None:
    """Exact pixel copies within ``ds`` and of faces in the splits checked before it, and near
    copies (a perceptual hash within ``threshold`` bits; ``None`` for generated faces)."""
    dup = find_duplicates(ds.images, ds.labels)
    if dup.groups:
        print(f"  problem: {len(dup.groups)} groups of identical images ({dup.copies} copies), "
              f"{len(dup.conflicting)} of them with conflicting labels")
    if threshold is not None:
        # near copies that are not exact ones, counted as evaluation leaves them out (across people)
        near = int((copies_within(ds, threshold) & ~copies_within(ds)).sum())
        if near:
            print(f"  problem: {near} more images are near copies of another {ds.split} image (perceptual hash "
                  f"within {threshold} bits: re-encoded, shifted or brightened)")
    for other in earlier:
        exact, near = copies_of(ds, [other], threshold)
        if int(exact.sum()):
            print(f"  problem: {int(exact.sum())} images are exact copies of {other.split} images (evaluation leaves "
                  f"them out unless --keep-duplicates)")
        if int(near.sum()):
            print(f"  problem: {int(near.sum())} more images are near copies of {other.split} images (perceptual hash "
                  f"within {threshold} bits; evaluation leaves them out too)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cache(args) if args.command == "cache" else check(args)


if __name__ == "__main__":
    run_cli(main)
