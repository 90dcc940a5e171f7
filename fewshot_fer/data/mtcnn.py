"""MTCNN: a face detector that also gives five landmarks (eye centres, nose tip, mouth corners).

facenet-pytorch ships the three MTCNN networks' weights inside its wheel (``facenet_pytorch/data``),
so it works offline after ``pip install 'fewshot-fer[video]'``. Version 2.6.0 of that package pins
``torch<2.3`` and would downgrade torch; 2.5.x runs on current torch, hence the bound in setup.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MissingExtra


def require_mtcnn() -> Any:
    """facenet-pytorch's ``MTCNN`` class, or a ``MissingExtra`` with the install command."""
    try:
        from facenet_pytorch import MTCNN
    except ImportError:
        raise MissingExtra("--face-detector mtcnn needs facenet-pytorch, which is not installed: "
                           "pip install 'fewshot-fer[video]' (or pip install 'facenet-pytorch>=2.5.3,!=2.6.*').") from None
    return MTCNN


class MtcnnDetector:
    """Finds the largest face in an RGB ``[H, W, 3]`` uint8 frame with its five landmarks.

    Faces smaller than a twelfth of the frame's short side (at least 20 px) are ignored, like the
    Haar detector's background faces; runs on the CPU.
    """

    def __init__(self) -> None:
        import torch

        self.net = require_mtcnn()(keep_all=True, post_process=False, device=torch.device("cpu"))
        self.net.eval()

    def __call__(self, rgb: np.ndarray) -> tuple[tuple[float, float, float, float], np.ndarray] | None:
        """``((x0, y0, x1, y1), points)`` of the largest face, ``points`` being ``[5, 2]`` (x, y) in
        the order left eye, right eye, nose, left and right mouth corner (as seen in the image), or
        ``None`` when no face is found."""
        faces = self.all_faces(rgb)
        return faces[0] if faces else None

    def all_faces(self, rgb: np.ndarray) -> list[tuple[tuple[float, float, float, float], np.ndarray]]:
        """Every face as ``__call__`` gives the largest, largest first."""
        import torch

        h, w = rgb.shape[:2]
        self.net.min_face_size = max(20, min(h, w) // 12)
        with torch.inference_mode():
            boxes, _, points = self.net.detect(np.ascontiguousarray(rgb[:, :, :3]), landmarks=True)
        if boxes is None or len(boxes) == 0:
            return []
        order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
        return [(tuple(float(v) for v in boxes[i]), np.asarray(points[i], dtype=np.float64)) for i in order]
