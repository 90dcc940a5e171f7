"""The measured jobs of the speed comparison (``speed.py``), one per child process
(``python -m benchmarks.speed_jobs JOB_JSON``, run by the comparison, not by hand).

Each job trains or evaluates a prototypical network with the same Conv-4 on the same FER2013
images, either with fewshot-fer (decoded-image cache, batched tensor augmentation, cached
features at evaluation) or with easyfsl used as its documentation shows (``EasySet`` decoding
each image with PIL and torchvision transforms, ``TaskSampler``, ``PrototypicalNetworks``).
A job prints one ``RESULT {json}`` line: its timings and the peak memory of its process.

easyfsl is only needed here: ``pip install easyfsl`` (it also pulls pandas and matplotlib).
"""

from __future__ import annotations

import contextlib
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import torch

RESULT_PREFIX = "RESULT "  # the line of a job's output that holds its result
WARMUP_EPISODES = 3
SUBSET_SEED = 1234  # which images make up a 1k or 10k subset (the same files for both toolkits)
MIN_PER_CLASS = 40


def chosen_files(root: Path, split: str, size: int | None) -> list[str]:
    """Sorted ``split/class/file`` names of a seeded random subset of about ``size`` images (all
    when None): each class keeps its share of the split, but at least ``MIN_PER_CLASS`` images so
    that every class can fill an episode (FER2013 has few disgust faces)."""
    by_class: dict[str, list[str]] = {}
    for p in sorted((root / split).glob("*/*")):
        if p.is_file():
            by_class.setdefault(p.parent.name, []).append(str(p.relative_to(root)))
    total = sum(len(v) for v in by_class.values())
    if size is None or size >= total:
        return sorted(f for v in by_class.values() for f in v)
    gen = torch.Generator().manual_seed(SUBSET_SEED)
    chosen = []
    for files in by_class.values():
        share = min(len(files), max(MIN_PER_CLASS, round(size * len(files) / total)))
        chosen += [files[i] for i in torch.randperm(len(files), generator=gen)[:share].tolist()]
    return sorted(chosen)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# ---------------------------------------------------------------- fewshot-fer
def ours_dataset(job: dict[str, Any]):
    from fewshot_fer.data import create_dataset

    full = create_dataset("fer2013", job["split"], job["root"], image_size=48, channels=1)
    if job.get("size") is None:
        return full
    keep = set(chosen_files(Path(job["root"]), job["split"], job.get("size")))
    idx = torch.tensor([i for i, k in enumerate(full.keys) if k in keep])
    return full.take(idx)


def ours_learner():
    from fewshot_fer.models.build import build_model, model_config

    torch.manual_seed(0)
    config = model_config("protonet", "conv4", 1, 48)
    return build_model(config).to(memory_format=torch.channels_last), config


def subset_root(job: dict[str, Any]) -> Path:
    """The FER2013 folder of the job: the real one, or for a ``size`` a folder of links to the
    chosen images (in FER2013's layout, at a fixed place so that later repeats find the decoded
    cache; nothing is written in the real folder)."""
    root = Path(job["root"])
    if job.get("size") is None:
        return root
    where = Path(tempfile.gettempdir()) / "fewshot-fer-speed" / f"{job['split']}-{job['size']}"
    if not (where / "done").is_file():
        for name in chosen_files(root, job["split"], job["size"]):
            link = where / name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(root / name)
        (where / "test").mkdir(exist_ok=True)  # the layout has both folders; this split is not read
        (where / "done").write_text("ok")
    return where


def ours_train(job: dict[str, Any]) -> dict[str, Any]:
    """Training as a user runs it, through ``fewshot_fer.api.train``: two epochs of ``episodes``
    episodes each, the first a warm-up; the time is the second epoch's, from the run's own
    episodes-per-second figure (measured by the trainer around its episode loop only)."""
    from fewshot_fer import api
    from fewshot_fer.data import create_dataset

    root = subset_root(job)
    t0 = time.perf_counter()
    data = create_dataset("fer2013", "train", root, image_size=48, channels=1)  # the set-up a run starts with
    setup = time.perf_counter() - t0
    n = job["episodes"]
    with tempfile.TemporaryDirectory() as out:
        run = api.train(dataset="fer2013", data_root=str(root), val_dataset="synthetic-compound", way=job["way"],
                        shot=job["shot"], query=job["query"], val_way=min(job["way"], 11), val_shot=1,
                        val_query=1, val_episodes=2, epochs=2, episodes_per_epoch=n, lr_schedule="constant",
                        device="cpu", output=out, name="speed")
    seconds = n / run.history[1]["episodes_per_s"]
    return {"setup_s": setup, "seconds": seconds, "images": len(data)}


def ours_evaluate(job: dict[str, Any]) -> dict[str, Any]:
    from episodes import EpisodeSampler
    from fewshot_fer.evaluation.episodes import evaluate_episodes

    t0 = time.perf_counter()
    data = ours_dataset(job)
    setup = time.perf_counter() - t0
    learner, config = ours_learner()
    start = time.perf_counter()
    sampler = EpisodeSampler(data.labels, job["way"], job["shot"], job["query"], seed=1, n_episodes=job["episodes"])
    results = evaluate_episodes(learner, data, list(sampler), job["way"], job["shot"], job["query"], "cpu",
                                config["mean"], config["std"], use_feature_cache=job["feature_cache"])
    seconds = time.perf_counter() - start
    return {"setup_s": setup, "seconds": seconds, "images": len(data),
            "accuracy": float(results.accuracies.mean())}


# ---------------------------------------------------------------- easyfsl
@contextlib.contextmanager
def patched_sampler_init() -> Iterator[None]:
    """easyfsl 1.5's TaskSampler calls ``Sampler.__init__(data_source=None)``, which current torch
    no longer accepts; let that one call through while TaskSamplers are built."""
    from torch.utils.data import Sampler

    original = Sampler.__init__
    Sampler.__init__ = lambda self, data_source=None: None
    try:
        yield
    finally:
        Sampler.__init__ = original


def easyfsl_loader(job: dict[str, Any], training: bool):
    from easyfsl.datasets import EasySet
    from easyfsl.samplers import TaskSampler
    from torch.utils.data import DataLoader
    from torchvision import transforms as T

    root = Path(job["root"])
    classes = sorted(p.name for p in (root / job["split"]).iterdir() if p.is_dir())
    steps = [T.Grayscale(1), T.Resize(48)]
    if training:  # what fewshot-fer's augment does: flip and a shift of up to 2 pixels
        steps += [T.RandomHorizontalFlip(), T.RandomCrop(48, padding=2, padding_mode="edge")]
    transform = T.Compose(steps + [T.ToTensor(), T.Normalize([0.5], [0.5])])
    with tempfile.TemporaryDirectory() as tmp:  # the specs file lives outside the dataset folder
        specs = Path(tmp) / "specs.json"
        specs.write_text(json.dumps({"class_names": classes,
                                     "class_roots": [str(root / job["split"] / c) for c in classes]}))
        dataset = EasySet(specs, transform=transform)
    keep = set(chosen_files(root, job["split"], job.get("size")))
    pairs = [(p, y) for p, y in zip(dataset.images, dataset.labels) if str(Path(p).relative_to(root)) in keep]
    dataset.images, dataset.labels = [p for p, _ in pairs], [y for _, y in pairs]
    n_tasks = job["episodes"] + (WARMUP_EPISODES if training else 0)
    with patched_sampler_init():
        sampler = TaskSampler(dataset, job["way"], job["shot"], job["query"], n_tasks)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=job["easyfsl_workers"],
                        collate_fn=sampler.episodic_collate_fn)
    return loader, len(dataset)


def easyfsl_model():
    from easyfsl.methods import PrototypicalNetworks

    from fewshot_fer.backbones.conv4 import Conv4

    torch.manual_seed(0)
    return PrototypicalNetworks(torch.nn.Sequential(Conv4(1, 64), torch.nn.Flatten()))


def easyfsl_train(job: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    loader, images = easyfsl_loader(job, training=True)
    setup = time.perf_counter() - t0
    model = easyfsl_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = None
    for i, (support_x, support_y, query_x, query_y, _) in enumerate(loader):
        if i == WARMUP_EPISODES:
            start = time.perf_counter()
        # easyfsl's documented episodic training step
        optimizer.zero_grad()
        model.process_support_set(support_x, support_y)
        loss = torch.nn.functional.cross_entropy(model(query_x), query_y)
        loss.backward()
        optimizer.step()
    return {"setup_s": setup, "seconds": time.perf_counter() - start, "images": images}


def easyfsl_evaluate(job: dict[str, Any]) -> dict[str, Any]:
    from easyfsl.utils import evaluate

    t0 = time.perf_counter()
    loader, images = easyfsl_loader(job, training=False)
    setup = time.perf_counter() - t0
    model = easyfsl_model()
    start = time.perf_counter()
    accuracy = evaluate(model, loader, device="cpu", use_tqdm=False)
    return {"setup_s": setup, "seconds": time.perf_counter() - start, "images": images, "accuracy": accuracy}


JOBS = {("fewshot-fer", "train"): ours_train, ("fewshot-fer", "evaluate"): ours_evaluate,
        ("easyfsl", "train"): easyfsl_train, ("easyfsl", "evaluate"): easyfsl_evaluate}


def import_toolkit(toolkit: str) -> None:
    """Import everything a job needs before measuring the memory baseline."""
    import torchvision  # noqa: F401

    import fewshot_fer.api  # noqa: F401  (both jobs use fewshot-fer's Conv-4)
    if toolkit == "easyfsl":
        import easyfsl.methods  # noqa: F401
        import easyfsl.utils  # noqa: F401


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement; ``peak_rss_mb`` is the process's peak, ``job_rss_mb`` the part above
    what the imports alone took.

    fewshot-fer jobs keep freed memory as its train and evaluate commands do
    (``fewshot_fer.training.memory``); an easyfsl job does too when ``job["keep_freed_memory"]``,
    to show how much of the difference that setting alone makes.
    """
    from fewshot_fer.training.memory import keep_freed_memory

    if job["toolkit"] == "fewshot-fer" or job.get("keep_freed_memory"):
        job = {**job, "keep_freed_memory": keep_freed_memory()}
    torch.set_num_threads(job["threads"])
    import_toolkit(job["toolkit"])
    baseline = peak_rss_mb()
    result = JOBS[job["toolkit"], job["task"]](job)
    peak = peak_rss_mb()
    return {**job, **result, "peak_rss_mb": peak, "job_rss_mb": peak - baseline}


if __name__ == "__main__":
    import sys

    print(RESULT_PREFIX + json.dumps(run_job(json.loads(sys.argv[1]))))
