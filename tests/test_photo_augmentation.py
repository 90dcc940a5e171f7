"""The ``photo`` augmentation: training faces that look like other cameras' photos. Its pieces by
hand (blur kernels, the JPEG round trip), then the policy's contract: seeded, shape and value range
kept, grey conversion for colour faces, any normalisation."""

import numpy as np
import pytest
import torch

from fewshot_fer.data.transforms import apply_augmentation, gaussian_blur, jpeg, to_model_input


def test_blur_keeps_a_flat_image_and_spreads_an_impulse_by_its_gaussian():
    flat = torch.full((1, 1, 9, 9), 0.4)
    assert torch.allclose(gaussian_blur(flat, torch.tensor([1.0])), flat)
    impulse = torch.zeros(2, 1, 9, 9)
    impulse[:, 0, 4, 4] = 1.0
    out = gaussian_blur(impulse, torch.tensor([0.5, 1.0]))
    assert torch.allclose(out.sum(dim=(1, 2, 3)), torch.ones(2))  # taps sum to 1, nothing leaves the frame
    # centre weight of a 5-tap 1-D Gaussian: 1 / sum(exp(-t^2 / (2 s^2))) for t in -2..2, squared (separable)
    for i, s in enumerate((0.5, 1.0)):
        centre = 1 / sum(np.exp(-t * t / (2 * s * s)) for t in range(-2, 3))
        assert float(out[i, 0, 4, 4]) == pytest.approx(centre ** 2, rel=1e-5)
    assert torch.allclose(out, out.flip(-1)) and torch.allclose(out, out.transpose(-1, -2))  # symmetric


def test_a_jpeg_round_trip_keeps_a_flat_grey_and_damages_fine_detail_more_at_low_quality():
    flat = torch.full((1, 16, 16), 128 / 255)
    assert torch.allclose(jpeg(flat, 30), flat, atol=1.5 / 255)
    rng = np.random.default_rng(0)
    detail = torch.from_numpy(rng.integers(0, 256, (3, 16, 16)).astype(np.float32) / 255)
    errors = [float((jpeg(detail, q) - detail).abs().mean()) for q in (90, 30)]
    assert jpeg(detail, 90).shape == (3, 16, 16) and 0 < errors[0] < errors[1]


@pytest.mark.parametrize("channels,mean,std", [(1, 0.5, 0.5), (3, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
def test_the_photo_policy_is_seeded_and_keeps_shape_and_pixel_range(channels, mean, std):
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (16, channels, 24, 24), dtype=np.uint8))
    x = to_model_input(images, mean, std)
    a = apply_augmentation(x, torch.Generator().manual_seed(3), "photo", mean, std)
    b = apply_augmentation(x, torch.Generator().manual_seed(3), "photo", mean, std)
    c = apply_augmentation(x, torch.Generator().manual_seed(4), "photo", mean, std)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == x.shape and a.dtype == x.dtype
    m = torch.as_tensor(mean).reshape(1, -1, 1, 1)
    s = torch.as_tensor(std).reshape(1, -1, 1, 1)
    pixels = a * s + m
    assert float(pixels.min()) >= -1e-5 and float(pixels.max()) <= 1 + 1e-5  # still photos' pixel values
    if channels == 3:  # some faces turned grey: their three channels equal
        grey = [bool(torch.allclose(p[0], p[1], atol=1e-5) and torch.allclose(p[1], p[2], atol=1e-5)) for p in pixels]
        assert 0 < sum(grey) < len(grey)
