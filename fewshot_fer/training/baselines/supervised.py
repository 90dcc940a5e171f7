"""Supervised training and prediction of a ``CentroidBaseline`` classifier on decoded faces."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ...data.transforms import apply_augmentation, to_model_input
from ...learners import CentroidBaseline
from ...models.embedding import embed_all
from ..divergence import check_loss
from ..precision import autocast, prepare_input


def first_conv_weight(model: nn.Module) -> torch.Tensor:
    return next(m.weight for m in model.modules() if isinstance(m, nn.Conv2d))


def train_epoch(model: CentroidBaseline, images: torch.Tensor, labels: torch.Tensor,
                optimizer: torch.optim.Optimizer, gen: torch.Generator, device: torch.device,
                batch_size: int = 64, mean: float = 0.5, std: float = 0.5, augmentation: str = "flip-rotate",
                l2_first_conv: float = 0.0, label_smoothing: float = 0.0,
                rotation_loss: float = 0.0, contrastive_loss: float = 0.0, contrastive_temperature: float = 0.1,
                teacher: CentroidBaseline | None = None, distill_weight: float = 0.5,
                distill_temperature: float = 4.0, desc: str | None = None,
                precision: str = "fp32") -> tuple[float, float]:
    """One pass of the classifier over ``images`` uint8 ``[N, C, H, W]`` with ``labels`` ``[N]`` in
    shuffled mini-batches, augmented by policy ``augmentation`` (``transforms.AUGMENTATIONS``),
    cross-entropy with ``label_smoothing``, plus ``rotation_loss`` times the cross-entropy of the
    model's rotation head on a copy of the batch turned by a random multiple of 90 degrees,
    plus ``contrastive_loss`` times SimCLR's loss (``nt_xent``) between the projections of two
    augmented views of every face; returns mean loss and accuracy. With a ``teacher`` (a trained
    classifier over the same classes, frozen) the cross-entropy is mixed with ``distillation_loss``
    against the teacher's logits on the same augmented faces, ``distill_weight`` of it (RFS's
    self-distillation). ``desc`` labels the progress bar (shown on a terminal only). ``precision``
    (``engine.precision``): ``bf16`` computes the forward pass in bfloat16, the loss in float32.
    The commands train on ``engine.trainer.TrainingLoop`` (the same step, ``classification_loss``);
    this plain epoch serves the precision benchmark and the unit tests."""
    check_heads(model, rotation_loss, contrastive_loss)
    model.train()
    order = torch.randperm(len(images), generator=gen)
    total_loss, correct, seen = 0.0, 0, 0
    first = first_conv_weight(model)
    batches = torch.split(order, batch_size)
    for number, batch in enumerate(tqdm(batches, desc=desc, unit="batch", dynamic_ncols=True, leave=False,
                                        disable=None), 1):
        if len(batch) < 2:  # batch norm needs two samples
            continue
        plain = to_model_input(images[batch].to(device), mean, std)
        y = labels[batch].to(device)
        loss, logits = classification_loss(model, plain, y, gen, augmentation, precision, label_smoothing,
                                           rotation_loss, contrastive_loss, contrastive_temperature, teacher,
                                           distill_weight, distill_temperature, (mean, std))
        if l2_first_conv:
            loss = loss + l2_first_conv * first.pow(2).sum()
        value = loss.item()
        check_loss(value, f"{desc}, batch {number}")  # before the step: the weights stay finite
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += value * len(batch)
        correct += int((logits.argmax(-1) == y).sum())
        seen += len(batch)
    return total_loss / max(seen, 1), correct / max(seen, 1)


def classification_loss(model: CentroidBaseline, plain: torch.Tensor, y: torch.Tensor, gen: torch.Generator,
                        augmentation: str = "flip-rotate", precision: str = "fp32", label_smoothing: float = 0.0,
                        rotation_loss: float = 0.0, contrastive_loss: float = 0.0,
                        contrastive_temperature: float = 0.1, teacher: CentroidBaseline | None = None,
                        distill_weight: float = 0.5, distill_temperature: float = 4.0,
                        normalization: tuple[Any, Any] = (0.5, 0.5)) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of one batch of model-input faces ``plain`` ``[B, C, H, W]`` with labels ``y``
    ``[B]`` (augmented from ``gen``), and the logits ``[B, n_classes]`` (float32): the one
    classification step of ``pretrain`` and ``selftrain`` (see ``train_epoch`` for the terms);
    ``normalization``: the ``(mean, std)`` of ``plain`` (the ``photo`` augmentation needs pixel values)."""
    device = plain.device
    x = prepare_input(apply_augmentation(plain, gen, augmentation, *normalization), precision)
    with autocast(device, precision):
        features = model.penultimate(x)
        logits = model.head(features).float()  # the losses in float32, whatever the precision
        loss = nn.functional.cross_entropy(model.training_logits(logits, y), y, label_smoothing=label_smoothing)
        if teacher is not None:
            with torch.no_grad():
                taught = teacher.classify(x).float()
            loss = (1 - distill_weight) * loss + distill_weight * distillation_loss(logits, taught,
                                                                                   distill_temperature)
        if contrastive_loss:  # a second view of the same faces, drawn independently
            other = model.penultimate(prepare_input(apply_augmentation(plain, gen, augmentation, *normalization),
                                                    precision))
            loss = loss + contrastive_loss * nt_xent(model.projection(features).float(),
                                                     model.projection(other).float(), contrastive_temperature)
        if rotation_loss:
            turns = torch.randint(0, 4, (len(x),), generator=gen).to(device)
            loss = loss + rotation_loss * nn.functional.cross_entropy(
                model.rotation(model.penultimate(rotate_quarters(x, turns))).float(), turns)
    return loss, logits


def check_heads(model: nn.Module, rotation_loss: float, contrastive_loss: float) -> None:
    """Refuse a loss whose head the model lacks."""
    if rotation_loss and getattr(model, "rotation", None) is None:
        raise ValueError("rotation_loss needs a model with a rotation head (learner option rotation_head=true).")
    if contrastive_loss and getattr(model, "projection", None) is None:
        raise ValueError("contrastive_loss needs a model with a projection head (learner option "
                         "projection_head=true).")


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """Hinton et al.'s knowledge distillation: ``KL(softmax(teacher / T) || softmax(student / T)) * T^2``,
    mean over the batch, for logits ``[B, n_classes]`` (``T^2`` keeps the gradient's size as ``T`` changes)."""
    return nn.functional.kl_div((student / temperature).log_softmax(-1), (teacher / temperature).log_softmax(-1),
                                log_target=True, reduction="batchmean") * temperature ** 2


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's loss (Chen et al. 2020): projections ``[B, D]`` of two views of the same ``B``
    images; each of the ``2B`` projections must pick its other view among the ``2B - 1`` others
    by cosine similarity over ``temperature`` (cross-entropy, mean over the ``2B``). Instance
    discrimination keeps features that tell faces apart within a class, which the cross-entropy
    over a few training classes otherwise collapses."""
    if z1.shape != z2.shape or len(z1) < 2:
        raise ValueError(f"nt_xent needs two views of the same shape with at least 2 images, got "
                         f"{tuple(z1.shape)} and {tuple(z2.shape)}.")
    z = nn.functional.normalize(torch.cat([z1, z2]), dim=-1)
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
    n = len(z1)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return nn.functional.cross_entropy(sim, target)


def rotate_quarters(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Each image of ``x`` ``[B, C, H, W]`` (square) turned by ``turns[i] * 90`` degrees."""
    out = x.clone()
    for k in (1, 2, 3):
        picked = turns == k
        if picked.any():
            out[picked] = torch.rot90(x[picked], k, dims=(-2, -1))
    return out


@torch.no_grad()
def predict_probs(model: CentroidBaseline, images: torch.Tensor, device: torch.device, mean: float = 0.5,
                  std: float = 0.5, batch_size: int = 512) -> torch.Tensor:
    """Class probabilities ``[N, n_classes]`` (eval mode, dropout off)."""
    features = embed_all(model, images, device, mean, std, batch_size, penultimate=True)
    return model.classify_features(features.to(device)).softmax(-1).cpu()


def accuracy(model: CentroidBaseline, images: torch.Tensor, labels: torch.Tensor, device: torch.device,
             mean: float = 0.5, std: float = 0.5) -> float:
    return float((predict_probs(model, images, device, mean, std).argmax(-1) == labels).double().mean())


MC_SCOPES = ("head", "all")
MC_SCOPE_HELP = ("dropout in the classifier head only (features computed once, T times cheaper) "
                 "or in the whole network")


@torch.no_grad()
def mc_dropout_probs(model: CentroidBaseline, images: torch.Tensor, passes: int, device: torch.device,
                     seed: int = 0, scope: str = "head", mean: float = 0.5, std: float = 0.5,
                     batch_size: int = 512) -> torch.Tensor:
    """``[passes, N, n_classes]`` probabilities with dropout switched on (Gal & Ghahramani 2016);
    batch norm stays in eval mode. ``scope="head"`` draws dropout in the classifier head only over
    features computed once (``passes`` times cheaper); ``"all"`` also in the backbone's dropout."""
    if scope not in MC_SCOPES:
        raise ValueError(f"scope must be 'head' or 'all', got {scope!r}.")
    if passes < 1:
        raise ValueError(f"passes must be at least 1, got {passes}.")
    features = (embed_all(model, images, device, mean, std, batch_size, penultimate=True).to(device)
                if scope == "head" else None)
    model.eval()
    dropouts = [m for m in (model.head if scope == "head" else model).modules() if isinstance(m, nn.Dropout)]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for m in dropouts:
            m.train()
        try:
            if features is not None:
                return torch.stack([model.classify_features(features).softmax(-1).cpu() for _ in range(passes)])
            return torch.stack([torch.cat([model.classify(to_model_input(images[i:i + batch_size].to(device), mean, std))
                                           .softmax(-1).cpu() for i in range(0, len(images), batch_size)])
                                for _ in range(passes)])
        finally:
            for m in dropouts:
                m.eval()
