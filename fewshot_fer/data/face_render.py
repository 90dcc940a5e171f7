"""Vectorised procedural face renderer driven by facial action units (AUs).

Every shape is a soft mask (a sigmoid of a signed distance) evaluated on the pixel grid, so a
batch of faces renders as a handful of tensor operations at any image size. Coordinates are the
face's own: x to the right, y downwards, both about ``[-1, 1]`` across the image.
"""

from __future__ import annotations

import torch

# The action units the renderer moves, in the column order of every AU tensor.
AUS = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU12", "AU15", "AU20", "AU23", "AU26")
AU_NAMES = ("inner brow raise", "outer brow raise", "brow lower", "upper lid raise", "cheek raise",
            "lid tighten", "nose wrinkle", "lip corner pull", "lip corner depress", "lip stretch",
            "lip tighten", "jaw drop")
AU_INDEX = {au: i for i, au in enumerate(AUS)}


def _soft(distance: torch.Tensor, edge: float) -> torch.Tensor:
    """1 inside (negative distance), 0 outside, with an antialiased edge about a pixel wide."""
    return torch.sigmoid(-distance / edge)


def _ellipse(x, y, cx, cy, rx, ry):
    """Approximate signed distance to an axis-aligned ellipse."""
    rx, ry = torch.as_tensor(rx), torch.as_tensor(ry)
    r = torch.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + 1e-12)
    return (r - 1) * torch.minimum(rx, ry)


def _segment(x, y, ax, ay, bx, by, half_width):
    """Signed distance to a thick line segment from ``(ax, ay)`` to ``(bx, by)``."""
    dx, dy = bx - ax, by - ay
    t = (((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy + 1e-12)).clamp(0, 1)
    return torch.sqrt((x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 + 1e-12) - half_width


def _paint(canvas: torch.Tensor, mask: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    """Blend ``color`` ``[N, 3, 1, 1]`` into ``canvas`` ``[N, 3, H, W]`` where ``mask`` ``[N, H, W]``."""
    m = mask.unsqueeze(1)
    return canvas * (1 - m) + color * m


def render(identity: dict[str, torch.Tensor], au: torch.Tensor, view: dict[str, torch.Tensor],
           size: int, noise: torch.Tensor) -> torch.Tensor:
    """Render ``N`` RGB faces as floats in ``[0, 1]``, shape ``[N, 3, size, size]``.

    Args:
        identity: per-face identity parameters, each ``[N]`` (colours ``[N, 3]``); see
            ``synthetic.sample_identities``.
        au: ``[N, len(AUS)]`` action-unit intensities, about ``[0, 1]``.
        view: per-face pose, lighting, blur and noise parameters, each ``[N]``.
        size: output height and width in pixels.
        noise: ``[N, 3, size, size]`` standard normal noise (drawn by the caller's generator).
    """
    n = au.shape[0]
    p = {k: v.view(n, 1, 1) for k, v in identity.items() if v.dim() == 1}
    colour = {k: identity[k].view(n, 3, 1, 1) for k in ("skin", "hair", "lip", "background")}
    a = [au[:, i].view(n, 1, 1) for i in range(len(AUS))]
    au1, au2, au4, au5, au6, au7, au9, au12, au15, au20, au23, au26 = a
    v = {k: t.view(n, 1, 1) for k, t in view.items()}

    # Pixel grid, then the inverse head pose (rotation, scale, shift) into face coordinates.
    lin = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    cos, sin = torch.cos(v["angle"]), torch.sin(v["angle"])
    u, w = gx - v["shift_x"], gy - v["shift_y"]
    x = (cos * u + sin * w) / v["scale"]
    y = (-sin * u + cos * w) / v["scale"]
    edge = 1.4 / size

    img = colour["background"].expand(n, 3, size, size) * (0.85 + 0.3 * (gy + 1) / 2)
    # Hair behind the head, then the face (the jaw drop lengthens the lower half).
    img = _paint(img, _soft(_ellipse(x, y, 0, p["face_y"] - 0.08, p["face_rx"] * 1.1,
                                     p["face_ry"] * 0.98), edge), colour["hair"])
    ry = torch.where(y > p["face_y"], p["face_ry"] + 0.08 * au26, p["face_ry"])
    face = _soft(_ellipse(x, y, 0, p["face_y"], p["face_rx"], ry), edge)
    img = _paint(img, face, colour["skin"])
    hairline = face * _soft(y - (p["hairline"] + 0.35 * x ** 2), edge)
    img = _paint(img, hairline, colour["hair"])

    skin = colour["skin"]
    shadow, light = skin * 0.55, (skin * 1.15).clamp(max=1)
    # Symmetric features are drawn once on |x|.
    ax = x.abs()
    # Cheek raise: raised cheeks catch the light.
    cheek = _soft(_ellipse(ax, y, 0.3, p["eye_y"] + 0.2, 0.13, 0.08), 4 * edge)
    img = _paint(img, cheek * au6.clamp(0, 1) * 0.7, light)

    # Mouth geometry first: nasolabial folds end at the mouth corners.
    half_w = p["mouth_w"] * (1 + 0.35 * au20 - 0.25 * au23 + 0.12 * au12 - 0.05 * au15)
    mouth_y = p["mouth_y"] - 0.03 * au9 + 0.04 * au26
    corner = -0.12 * au12 + 0.08 * au15
    fold = (0.45 * au6 + 0.45 * au12 + 0.6 * au9 + 0.25 * au20).clamp(0, 1)
    d = _segment(ax, y, 0.12, p["nose_y"] - 0.02, half_w + 0.03, mouth_y + corner, 0.012)
    img = _paint(img, _soft(d, edge) * fold * 0.8, shadow)

    # Wrinkles: forehead (brow raise), glabella (brow lower), nose bridge (nose wrinkle).
    brow_y = p["eye_y"] - p["brow_gap"]
    raise_ = torch.maximum(au1, au2).clamp(0, 1)
    for k in range(3):
        wy = brow_y - 0.1 - 0.07 * k
        d = _segment(x, y, -0.28, wy, 0.28, wy, 0.009)
        img = _paint(img, _soft(d, edge) * raise_ * 0.7, shadow)
    d = _segment(ax, y, 0.045, brow_y - 0.05, 0.04, brow_y + 0.06, 0.009)
    img = _paint(img, _soft(d, edge) * au4.clamp(0, 1) * 0.8, shadow)
    for k in range(2):
        wy = p["eye_y"] + 0.02 + 0.05 * k
        d = _segment(x, y, -0.07, wy, 0.07, wy, 0.008)
        img = _paint(img, _soft(d, edge) * au9.clamp(0, 1) * 0.8, shadow)

    # Eyes: openness from lid raise, lid tighten and the cheek pushing the lower lid up.
    open_ = (1 + 0.9 * au5 - 0.55 * au7 - 0.35 * au6).clamp(min=0.15)
    eh = p["eye_h"] * open_
    ex = p["eye_x"]
    eye = _soft(_ellipse(ax, y, ex, p["eye_y"], p["eye_w"], eh), edge)
    img = _paint(img, _soft(_ellipse(ax, y, ex, p["eye_y"], p["eye_w"] + 0.015, eh + 0.012), edge),
                 shadow)
    img = _paint(img, eye, torch.full_like(skin, 0.92))
    iris = _soft(_ellipse(ax, y, ex, p["eye_y"], p["iris"], p["iris"]), edge) * eye
    img = _paint(img, iris, colour["hair"] * 0.6)

    # Brows: inner and outer ends move with AU1, AU2 and AU4.
    inner_dy = -0.09 * au1 + 0.07 * au4
    outer_dy = -0.09 * au2 + 0.025 * au4
    d = _segment(ax, y, p["eye_x"] - p["eye_w"] - 0.01 - 0.03 * au4, brow_y + inner_dy,
                 p["eye_x"] + p["eye_w"] + 0.03, brow_y + outer_dy - 0.01, p["brow_t"])
    img = _paint(img, _soft(d, edge), colour["hair"])

    # Nose: nostrils rise and flare with the nose wrinkle.
    nostril = _ellipse(ax, y, 0.05 + 0.012 * au9, p["nose_y"] - 0.03 * au9, 0.028 + 0.008 * au9, 0.016)
    img = _paint(img, _soft(nostril, edge), shadow * 0.6)

    # Mouth: lips around an opening that the jaw drop widens; teeth show with pulled corners.
    t = x / half_w
    inside = (1 - t ** 2).clamp(min=0)
    centre = mouth_y + corner * t ** 2
    open_h = (0.006 + 0.11 * au26.clamp(0, 1.3) + 0.02 * au20) * torch.sqrt(inside)
    lip_h = open_h + p["lip_t"] * (1 - 0.6 * au23.clamp(0, 1)) * inside ** 0.35
    across = _soft(t.abs() - 1, 3 * edge / half_w)
    img = _paint(img, _soft((y - centre).abs() - lip_h, edge) * across, colour["lip"])
    gap = _soft((y - centre).abs() - open_h, edge) * across
    img = _paint(img, gap, skin * 0.15)
    teeth = gap * _soft(y - (centre - open_h + 0.45 * open_h), edge) * (au12 + au20).clamp(0, 1)
    img = _paint(img, teeth, torch.full_like(skin, 0.9))

    # Lighting (directional gradient, brightness, contrast), blur, sensor noise.
    direction = torch.stack([torch.cos(v["light_dir"]), torch.sin(v["light_dir"])])
    shade = 1 + v["light"] * (direction[0] * gx + direction[1] * gy)
    img = img * (shade * v["brightness"]).unsqueeze(1)
    img = (img - 0.5) * v["contrast"].unsqueeze(1) + 0.5
    img = _blur(img, v["blur"])
    img = img + noise * v["noise"].unsqueeze(1)
    return img.clamp(0, 1)


def _blur(img: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Blend each image with its Gaussian-blurred copy by ``amount`` ``[N, 1, 1]`` in ``[0, 1]``."""
    sigma = 0.9
    r = torch.arange(-2, 3, dtype=img.dtype)
    k = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    flat = img.reshape(-1, 1, *img.shape[2:])
    flat = torch.nn.functional.pad(flat, (2, 2, 2, 2), mode="replicate")
    flat = torch.nn.functional.conv2d(flat, k.view(1, 1, 1, 5))
    flat = torch.nn.functional.conv2d(flat, k.view(1, 1, 5, 1))
    blurred = flat.reshape(img.shape)
    a = amount.unsqueeze(1)
    return img * (1 - a) + blurred * a


def to_channels(rgb: torch.Tensor, channels: int) -> torch.Tensor:
    """``[N, 3, H, W]`` RGB to ``channels`` (1: ITU-R 601 luma, 3: unchanged)."""
    if channels == 3:
        return rgb
    if channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype).view(1, 3, 1, 1)
        return (rgb * weights).sum(1, keepdim=True)
    raise ValueError(f"channels must be 1 or 3, got {channels}.")


__all__ = ["AUS", "AU_INDEX", "AU_NAMES", "render", "to_channels"]
