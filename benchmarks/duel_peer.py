"""The peer of the duel (``benchmarks/configs/duel-fer2013.yaml``, rows of ``peer_rows.py``):
easyfsl 1.5's ``PrototypicalNetworks`` trained as easyfsl's documentation shows, on FER2013 image
folders.

Plain Conv-4 (conv-BN-ReLU-maxpool x4, 64 channels) flattened, 48 px grey images through
torchvision transforms, ``(x/255 - 0.5) / 0.5``, random horizontal flip and a 2-pixel shift,
``TaskSampler`` episodes, Adam 1e-3 with a constant learning rate, cross-entropy on the query
logits (``-cdist`` to the prototypes, support and query through the backbone in two passes), the
final model kept. easyfsl is needed only here: ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from episodes import atomic_open, make_episode

from .speed_jobs import patched_sampler_init

# FER2013 folder names of the canonical classes (the peer reads the folders directly)
FOLDER_NAMES = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
                "sadness": "sad", "surprise": "surprise", "neutral": "neutral"}


def peer_model() -> torch.nn.Module:
    from easyfsl.methods import PrototypicalNetworks

    from fewshot_fer.backbones.conv4 import Conv4

    return PrototypicalNetworks(torch.nn.Sequential(Conv4(1, 64), torch.nn.Flatten()))


def peer_loader(root: Path, classes: Sequence[str], way: int, shot: int, query: int, episodes: int):
    from easyfsl.datasets import EasySet
    from easyfsl.samplers import TaskSampler
    from torch.utils.data import DataLoader
    from torchvision import transforms as T

    folders = [root / "train" / FOLDER_NAMES[c] for c in classes]
    transform = T.Compose([T.Grayscale(1), T.Resize(48), T.RandomHorizontalFlip(),
                           T.RandomCrop(48, padding=2, padding_mode="edge"), T.ToTensor(), T.Normalize([0.5], [0.5])])
    with tempfile.TemporaryDirectory() as tmp:  # the specs file lives outside the dataset folder
        specs = Path(tmp) / "specs.json"
        specs.write_text(json.dumps({"class_names": list(classes), "class_roots": [str(f) for f in folders]}))
        dataset = EasySet(specs, transform=transform)
    with patched_sampler_init():
        sampler = TaskSampler(dataset, way, shot, query, episodes)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=sampler.episodic_collate_fn)


def train_peer(job: dict[str, Any]) -> dict[str, Any]:
    """Train the peer for ``job["episodes"]`` episodes and save its weights to ``job["out"]``."""
    random.seed(job["seed"])  # TaskSampler draws classes and images with Python's random
    torch.manual_seed(job["seed"])
    loader = peer_loader(Path(job["root"]), job["classes"], job["way"], job["shot"], job["query"], job["episodes"])
    model = peer_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start, losses = time.perf_counter(), []
    for support_x, support_y, query_x, query_y, _ in loader:  # easyfsl's documented training step
        optimizer.zero_grad()
        model.process_support_set(support_x, support_y)
        loss = torch.nn.functional.cross_entropy(model(query_x), query_y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    with atomic_open(job["out"], "wb") as f:
        torch.save(model.state_dict(), f)
    return {"train_seconds": seconds, "final_loss": sum(losses[-100:]) / len(losses[-100:])}


@torch.no_grad()
def score_peer(weights: Path, images: torch.Tensor, labels: torch.Tensor, episodes: list[list[int]],
               way: int, shot: int, query: int) -> torch.Tensor:
    """Per-episode accuracy ``[n_episodes]`` of the saved peer, in eval mode, through easyfsl's own
    ``process_support_set`` + forward. ``images``: decoded uint8 ``[N, 1, 48, 48]``."""
    from fewshot_fer.data.transforms import to_model_input

    model = peer_model()
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    out = torch.empty(len(episodes), dtype=torch.float64)
    for e, index in enumerate(episodes):
        index = torch.as_tensor(index)
        ep = make_episode(to_model_input(images[index]), labels[index], way, shot, query)
        model.process_support_set(ep.support_x, ep.support_y)
        out[e] = (model(ep.query_x).argmax(-1) == ep.query_y).double().mean()
    return out
