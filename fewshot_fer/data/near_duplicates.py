"""Near-duplicate faces: the same photo re-encoded, shifted a little, or made brighter or darker,
found by a perceptual hash of the decoded face.

The hash (pHash): the face in grey, resized to 32 x 32, its 2-D DCT, and one bit per coefficient
of the 8 x 8 lowest frequencies (the constant one left out): whether it lies above their median.
A brightness or contrast change scales and shifts every pixel, which leaves these signs alone;
JPEG re-encoding and small shifts change the high frequencies it does not look at. Two faces are
near-duplicates when their hashes differ in at most ``threshold`` of the 63 bits; the threshold
is chosen on hand-checked pairs (``benchmarks/results/near-duplicates.md``).
"""

from __future__ import annotations

import math

import torch

HASH_SIZE, DCT_SIZE = 8, 32
# Hamming distance (of 63 bits) at or under which two faces count as one photo. Chosen on hand-checked
# FER2013 test/training pairs: 48 of 48 at 0-4 bits were the same photo, 28 of 32 at 6 bits and 14 of
# 32 at 8; across datasets (lfw-expressions against FER2013) all 12 pairs at 6 bits were different
# people, so 6 is not safe as a default (benchmarks/results/near-duplicates.md has the sheets).
NEAR_THRESHOLD = 4


def dct_matrix(n: int) -> torch.Tensor:
    """The orthonormal DCT-II basis ``[n, n]`` (row k: frequency k)."""
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    x = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    basis = torch.cos(math.pi * (2 * x + 1) * k / (2 * n)) * math.sqrt(2 / n)
    basis[0] /= math.sqrt(2)
    return basis


def perceptual_hashes(images: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """One 64-bit hash per face of ``images`` uint8 ``[N, C, H, W]`` -> int64 ``[N]`` (bit 0, the
    constant coefficient, is always 0)."""
    if images.dim() != 4:
        raise ValueError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}.")
    basis = dct_matrix(DCT_SIZE)[:HASH_SIZE].float()  # [8, 32]
    weights = (2 ** torch.arange(HASH_SIZE * HASH_SIZE, dtype=torch.int64))
    weights[-1] = -(2 ** 63)  # the top bit as int64's sign bit
    out = []
    for part in torch.split(images, batch):
        grey = part.float().mean(1, keepdim=True)
        small = torch.nn.functional.interpolate(grey, size=(DCT_SIZE, DCT_SIZE), mode="area").squeeze(1)
        low = (basis @ small @ basis.T).flatten(1)  # [B, 64]
        median = low[:, 1:].median(dim=1, keepdim=True).values
        bits = (low > median)
        bits[:, 0] = False
        out.append((bits.long() * weights).sum(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def hamming(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Bits in which the hashes ``a`` ``[N]`` and ``b`` ``[M]`` differ -> ``[N, M]`` (int16)."""
    x = (a.unsqueeze(1) ^ b.unsqueeze(0)).contiguous().view(torch.uint8)  # [N, 8 M] bytes
    # bits set per byte, in place on the bytes (SWAR): pairs, nibbles, then the byte
    x = x - ((x >> 1) & 0x55)
    x = (x & 0x33) + ((x >> 2) & 0x33)
    x = (x + (x >> 4)) & 0x0F
    return x.view(len(a), len(b), 8).sum(-1, dtype=torch.int16)


def nearest_distances(queries: torch.Tensor, pool: torch.Tensor, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """For each hash of ``queries`` ``[N]``: the smallest Hamming distance to a hash of ``pool``
    ``[M]`` and the index of that pool item (``[N]`` each; distance 64 when the pool is empty)."""
    if len(pool) == 0:
        return torch.full((len(queries),), 64, dtype=torch.int16), torch.full((len(queries),), -1)
    dist, where = [], []
    for part in torch.split(queries, chunk):
        d = hamming(part, pool)
        best = d.min(1)
        dist.append(best.values)
        where.append(best.indices)
    return (torch.cat(dist), torch.cat(where)) if dist else (torch.zeros(0, dtype=torch.int16), torch.zeros(0))


def near_copies_within(hashes: torch.Tensor, threshold: int, groups: torch.Tensor | None = None,
                       chunk: int = 256) -> torch.Tensor:
    """``[N]`` bool: the items that are near-duplicates (within ``threshold`` bits) of an earlier
    item that is itself kept, so each group of copies keeps its first face; with ``groups`` ``[N]``
    (people, clips), only copies in another group than the kept item's count."""
    drop = torch.zeros(len(hashes), dtype=torch.bool)
    for start in range(0, len(hashes), chunk):
        close_all = hamming(hashes[start:start + chunk], hashes) <= threshold  # [c, N]
        if groups is not None:
            close_all &= groups[start:start + chunk].unsqueeze(1) != groups.unsqueeze(0)
        for row in range(close_all.shape[0]):
            i = start + row
            if not drop[i]:
                close = close_all[row].nonzero().flatten()
                drop[close[close > i]] = True
    return drop
