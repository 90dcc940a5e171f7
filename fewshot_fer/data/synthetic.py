"""Built-in synthetic faces: procedurally drawn identities showing FACS expression prototypes.

Seven basic expressions (``synthetic-basic``) and eleven compound ones (``synthetic-compound``)
are action-unit (AU) prototypes; identities vary face shape, feature placement, colours and a
resting expression; each image varies intensity, head pose, lighting, blur and noise. Identities
of the train, validation and test splits come from separate pools, shared by both datasets, so
``synthetic-basic`` (train) -> ``synthetic-compound`` (val) tests unseen expressions on unseen
people. Everything is deterministic from the seed; a rendered split is kept in the process and in
the decoded-image cache (keyed by the renderer's source, PyTorch's version and the CPU's vector
instructions, which decide the last bits of a render), so a later process reads it instead of
drawing its thousands of faces again.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from ..labels import BASIC, COMPOUND
from .base import FaceDataset
from .cache import file_signature, read_entry, write_entry
from .catalog import register_dataset
from .face_render import AU_INDEX, AUS, render, to_channels
from .face_render import __file__ as RENDERER_SOURCE


def _prototype(**aus: float) -> torch.Tensor:
    v = torch.zeros(len(AUS))
    for au, value in aus.items():
        v[AU_INDEX[au]] = value
    return v


# EMFACS prototypes of the basic expressions (AU10 and AU16 folded into AU9 and AU15).
BASIC_PROTOTYPES = {
    "anger": _prototype(AU4=1.0, AU5=0.6, AU7=0.8, AU23=1.0),
    "disgust": _prototype(AU4=0.3, AU9=1.0, AU15=0.7),
    "fear": _prototype(AU1=0.8, AU2=0.7, AU4=0.5, AU5=1.0, AU7=0.3, AU20=1.0, AU26=0.5),
    "happiness": _prototype(AU6=1.0, AU12=1.0),
    "sadness": _prototype(AU1=1.0, AU4=0.6, AU15=1.0),
    "surprise": _prototype(AU1=1.0, AU2=1.0, AU5=0.8, AU26=1.0),
    "neutral": _prototype(),
}

# Compound prototypes after Du, Tao & Martinez (PNAS 2014); AU10 -> AU9, AU25 -> a slight AU26,
# AU17 -> AU23.
COMPOUND_PROTOTYPES = {
    "happiness-surprise": _prototype(AU1=0.8, AU2=0.8, AU6=0.5, AU12=1.0, AU26=0.8),
    "happiness-disgust": _prototype(AU6=0.6, AU9=0.8, AU12=0.9),
    "sadness-fear": _prototype(AU1=1.0, AU4=0.7, AU20=0.9, AU26=0.25),
    "sadness-anger": _prototype(AU4=1.0, AU7=0.4, AU15=1.0),
    "sadness-surprise": _prototype(AU1=1.0, AU4=0.6, AU26=0.7),
    "sadness-disgust": _prototype(AU4=0.8, AU9=0.8, AU15=0.4),
    "fear-anger": _prototype(AU4=1.0, AU7=0.4, AU20=1.0, AU26=0.3),
    "fear-surprise": _prototype(AU1=1.0, AU2=1.0, AU5=1.0, AU20=0.8, AU26=0.5),
    "anger-surprise": _prototype(AU4=1.0, AU5=0.5, AU26=0.9),
    "anger-disgust": _prototype(AU4=1.0, AU9=0.8, AU23=0.6),
    "disgust-surprise": _prototype(AU1=0.9, AU2=0.9, AU5=0.7, AU9=0.8),
}

KINDS = {"basic": (BASIC, BASIC_PROTOTYPES), "compound": (COMPOUND, COMPOUND_PROTOTYPES)}
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes of the identity pools and images per identity and expression."""

    train_identities: int = 240
    val_identities: int = 80
    test_identities: int = 80
    images_per_expression: int = 2

    def identity_range(self, split: str) -> range:
        sizes = {"train": self.train_identities, "val": self.val_identities, "test": self.test_identities}
        if split not in sizes:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
        start = sum(sizes[s] for s in SPLITS[: SPLITS.index(split)])
        return range(start, start + sizes[split])


def _uniform(gen: torch.Generator, n: int, low: float, high: float, *shape: int) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, *shape, generator=gen)


def sample_identities(n: int, seed: int) -> dict[str, torch.Tensor]:
    """Identity parameters of people ``0..n-1``; person ``i`` is the same for any ``n > i``."""
    gen = torch.Generator().manual_seed(seed * 7919 + 17)
    out: dict[str, list[torch.Tensor]] = {}
    for _ in range(n):  # one person at a time so that a longer pool extends a shorter one
        skin_tone = torch.rand(1, generator=gen)
        hair = _uniform(gen, 1, 0.05, 0.45) * torch.tensor([1.0, 0.85, 0.7])
        params = {
            "face_rx": _uniform(gen, 1, 0.5, 0.64), "face_ry": _uniform(gen, 1, 0.7, 0.84),
            "face_y": _uniform(gen, 1, 0.0, 0.08), "hairline": _uniform(gen, 1, -0.66, -0.46),
            "eye_x": _uniform(gen, 1, 0.21, 0.29), "eye_y": _uniform(gen, 1, -0.19, -0.09),
            "eye_w": _uniform(gen, 1, 0.08, 0.11), "eye_h": _uniform(gen, 1, 0.032, 0.048),
            "iris": _uniform(gen, 1, 0.026, 0.036), "brow_gap": _uniform(gen, 1, 0.11, 0.16),
            "brow_t": _uniform(gen, 1, 0.012, 0.024), "nose_y": _uniform(gen, 1, 0.15, 0.23),
            "mouth_y": _uniform(gen, 1, 0.38, 0.46), "mouth_w": _uniform(gen, 1, 0.14, 0.2),
            "lip_t": _uniform(gen, 1, 0.018, 0.032),
            "skin": (torch.tensor([0.95, 0.8, 0.68]) * (1 - 0.55 * skin_tone)).view(1, 3),
            "hair": hair.view(1, 3),
            "lip": (torch.tensor([0.75, 0.4, 0.4]) * (1 - 0.45 * skin_tone)).view(1, 3),
            "background": _uniform(gen, 1, 0.2, 0.9, 3),
            "resting": (0.08 * torch.randn(1, len(AUS), generator=gen)).clamp(-0.1, 0.2),
        }
        for k, v in params.items():
            out.setdefault(k, []).append(v)
    return {k: torch.cat(v) for k, v in out.items()}


def sample_views(n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Per-image nuisance: head pose, lighting, blur and noise."""
    return {
        "angle": _uniform(gen, n, -0.2, 0.2), "scale": _uniform(gen, n, 0.9, 1.1),
        "shift_x": _uniform(gen, n, -0.07, 0.07), "shift_y": _uniform(gen, n, -0.07, 0.07),
        "light": _uniform(gen, n, 0.0, 0.35), "light_dir": _uniform(gen, n, 0, 6.2832),
        "brightness": _uniform(gen, n, 0.75, 1.15), "contrast": _uniform(gen, n, 0.7, 1.15),
        "blur": _uniform(gen, n, 0.0, 1.0), "noise": _uniform(gen, n, 0.01, 0.06),
    }


def expression_aus(prototypes: torch.Tensor, resting: torch.Tensor, gen: torch.Generator,
                   ramp: torch.Tensor | None = None) -> torch.Tensor:
    """AU intensities ``[N, n_aus]``: a prototype at a random intensity with per-AU jitter, on top
    of the person's resting expression. ``ramp`` ``[N]`` in ``[0, 1]`` scales the expression
    (clip frames)."""
    n = len(prototypes)
    intensity = _uniform(gen, n, 0.55, 1.0, 1)
    jitter = 0.12 * torch.randn(n, len(AUS), generator=gen) * (prototypes > 0)
    expressive = (prototypes * intensity + jitter).clamp(min=0)
    if ramp is not None:
        expressive = expressive * ramp.view(n, 1)
    return (resting + expressive).clamp(0, 1.2)


def render_faces(identity: dict[str, torch.Tensor], aus: torch.Tensor, views: dict[str, torch.Tensor],
                 size: int, channels: int, gen: torch.Generator, chunk: int = 512) -> torch.Tensor:
    """Render to uint8 ``[N, channels, size, size]`` in chunks to bound memory."""
    out = []
    for s in range(0, len(aus), chunk):
        part = slice(s, s + chunk)
        noise = torch.randn(len(aus[part]), 3, size, size, generator=gen)
        rgb = render({k: v[part] for k, v in identity.items()}, aus[part],
                     {k: v[part] for k, v in views.items()}, size, noise)
        out.append((to_channels(rgb, channels) * 255).round().to(torch.uint8))
    return torch.cat(out) if out else torch.zeros(0, channels, size, size, dtype=torch.uint8)


def _stream_seed(seed: int, *parts: str) -> int:
    return (seed * 1_000_003 + zlib.crc32("/".join(parts).encode())) % (2 ** 62)


RENDERED_KEPT = 8  # rendered splits kept in memory (at 48 px, 3,360 faces are 7.7 MB)
_rendered: dict[tuple, FaceDataset] = {}


def make_synthetic(kind: str, split: str, image_size: int = 48, channels: int = 1, seed: int = 0,
                   config: SyntheticConfig = SyntheticConfig(), cache_dir: str | Path | None = None) -> FaceDataset:
    """The ``synthetic-<kind>`` dataset's ``split``; groups are identity ids. Rendering is seeded,
    so a split asked for again is a copy of the one rendered before: from this process (a training
    run, its validation and an evaluation's duplicate check each ask for splits), else from the
    cache folder (``cache_dir``, default ``$FEWSHOT_FER_CACHE`` or ``~/.cache/fewshot-fer``)."""
    key = (kind, split, image_size, channels, seed, config)
    if key not in _rendered:
        if len(_rendered) >= RENDERED_KEPT:
            _rendered.pop(next(iter(_rendered)))  # the oldest
        _rendered[key] = cached_render(kind, split, image_size, channels, seed, config, cache_dir)
    d = _rendered[key]
    return FaceDataset(d.images.clone(), d.labels.clone(), d.class_names, d.keys, d.groups.clone(), d.name, d.split)


def cached_render(kind: str, split: str, image_size: int, channels: int, seed: int, config: SyntheticConfig,
                  cache_dir: str | Path | None) -> FaceDataset:
    """``render_synthetic`` through the decoded-image cache."""
    sources = [Path(__file__), Path(RENDERER_SOURCE)]  # an edit to the renderer is a new entry
    platform = f"torch {torch.__version__} {torch.backends.cpu.get_cpu_capability()}"
    key = file_signature(sources, "synthetic", kind, split, image_size, channels, seed, config, platform)
    cached = read_entry(key, cache_dir)
    if cached is not None:  # an entry exists only for a kind render_synthetic accepted
        images, meta = cached
        return FaceDataset(torch.from_numpy(images), meta["labels"], KINDS[kind][0], meta["keys"],
                           torch.tensor(meta["groups"]), f"synthetic-{kind}", split)
    d = render_synthetic(kind, split, image_size, channels, seed, config)
    write_entry(key, d.images.numpy(), {"labels": d.labels.tolist(), "keys": d.keys, "groups": d.groups.tolist()},
                cache_dir)
    return d


def render_synthetic(kind: str, split: str, image_size: int, channels: int, seed: int,
                     config: SyntheticConfig) -> FaceDataset:
    """Render the ``synthetic-<kind>`` dataset's ``split`` (``make_synthetic`` keeps the result)."""
    if kind not in KINDS:
        raise ValueError(f"synthetic kind must be one of {sorted(KINDS)}, got {kind!r}.")
    names, prototypes = KINDS[kind]
    people = config.identity_range(split)
    identities = sample_identities(people.stop, seed)
    per = config.images_per_expression
    person = torch.tensor(list(people)).repeat_interleave(len(names) * per)
    label = torch.arange(len(names)).repeat_interleave(per).repeat(len(people))
    gen = torch.Generator().manual_seed(_stream_seed(seed, kind, split))
    table = torch.stack([prototypes[c] for c in names])
    aus = expression_aus(table[label], identities["resting"][person], gen)
    views = sample_views(len(label), gen)
    who = {k: v[person] for k, v in identities.items() if k != "resting"}
    images = render_faces(who, aus, views, image_size, channels, gen)
    keys = [f"id{p:05d}/{names[c]}/{i % per}" for i, (p, c) in enumerate(zip(person.tolist(), label.tolist()))]
    return FaceDataset(images, label, names, keys, groups=person, name=f"synthetic-{kind}", split=split)


def make_synthetic_clip(kind: str, expression: str, person: int, frames: int = 16,
                        image_size: int = 48, channels: int = 1, seed: int = 0) -> torch.Tensor:
    """One clip, uint8 ``[frames, channels, size, size]``: the expression rises from the person's
    resting face to its apex while the head drifts slightly."""
    names, prototypes = KINDS[kind]
    if expression not in names:
        raise ValueError(f"expression {expression!r} is not a {kind} expression ({names}).")
    identities = sample_identities(person + 1, seed)
    gen = torch.Generator().manual_seed(_stream_seed(seed, "clip", kind, expression, str(person)))
    # Same intensity and jitter on every frame: draw the apex once, then repeat it.
    apex = expression_aus(prototypes[expression].unsqueeze(0), identities["resting"][person:person + 1],
                          gen).expand(frames, -1)
    ramp = torch.linspace(0, 1, frames).view(frames, 1)
    aus = identities["resting"][person] * (1 - ramp) + apex * ramp
    start, end = sample_views(1, gen), sample_views(1, gen)
    views = {k: start[k] + (end[k] - start[k]) * 0.25 * ramp.flatten() for k in start}
    who = {k: v[person].expand(frames, *v.shape[1:]) for k, v in identities.items() if k != "resting"}
    return render_faces(who, aus, views, image_size, channels, gen)


@register_dataset("synthetic-basic", generated=True)
def load_synthetic_basic(split: str, root: object = None, image_size: int = 48, channels: int = 1,
                         cache_dir: object = None, strict: bool = False) -> FaceDataset:
    """The built-in synthetic basic expressions (no folder: ``root`` is unused)."""
    return make_synthetic("basic", split, image_size, channels, cache_dir=cache_dir)


@register_dataset("synthetic-compound", generated=True)
def load_synthetic_compound(split: str, root: object = None, image_size: int = 48, channels: int = 1,
                            cache_dir: object = None, strict: bool = False) -> FaceDataset:
    """The built-in synthetic compound expressions (no folder: ``root`` is unused)."""
    return make_synthetic("compound", split, image_size, channels, cache_dir=cache_dir)
