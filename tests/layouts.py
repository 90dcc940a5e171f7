"""Test helpers in one place: tiny datasets written in the real layouts (FER2013's Kaggle folders,
RAF-DB's official files, AFEW's clips as real .avi files, a CK+-style class-folder tree), so the
loaders are tested on exactly what they read, without the real data."""

import io

import numpy as np
from PIL import Image

from fewshot_fer.data.synthetic import make_synthetic_clip

FOLDERS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def write_face(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((48, 48), value, dtype=np.uint8)).save(path)


def make_layout(root, with_validation=True):
    """Kaggle folder layout: 2 train + 1 val + 1 test image per class, plus one augmented copy."""
    n = 0
    for c, folder in enumerate(FOLDERS):
        for k in range(2):
            write_face(root / "train" / folder / f"Training_{100 + n}.jpg", 10 * c + k)
            n += 1
        val_dir = "validation" if with_validation else "test"
        write_face(root / val_dir / folder / f"PublicTest_{200 + c}.jpg", 10 * c)
        write_face(root / "test" / folder / f"PrivateTest_{300 + c}.jpg", 10 * c)
    write_face(root / "train" / "disgust" / "Training_102.jpg0.jpg", 5)  # augmented copy


def jpeg_bytes(value):
    buf = io.BytesIO()
    Image.fromarray(np.full((20, 20, 3), value, dtype=np.uint8)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def write_official(root, lines, label_name="list_patition_label.txt"):
    """Official layout: the label file and one aligned face per line, grey value 20 * id."""
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel" / label_name).write_text("\n".join(lines) + "\n")
    aligned = root / "Image" / "aligned"
    aligned.mkdir(parents=True)
    blobs = {}
    for line in lines:
        name, label = line.split()
        blob = blobs.setdefault(label, jpeg_bytes(20 * int(label)))
        (aligned / name.replace(".jpg", "_aligned.jpg")).write_bytes(blob)


def write(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 24, 3), value, dtype=np.uint8)).save(path)


def ckplus(root, subjects=30):
    # CK+ style: <root>/<class>/S005_001_00000011.png, class folders in common spellings
    for s in range(subjects):
        for folder in ("anger", "happy", "surprised", "contempt"):
            write(root / folder / f"S{s:03d}_001_00000011.png", s)


EMOTIONS = {"Angry": "anger", "Happy": "happiness", "Surprise": "surprise"}
FRAMES = 10


def write_avi(path, expression=None, person=0, frames=FRAMES):
    """A real MJPG .avi: a synthetic face moving slightly on a grey 200x160 background, or only
    the background when ``expression`` is None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    import cv2  # the video extra

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (200, 160))
    assert writer.isOpened()
    faces = None if expression is None else make_synthetic_clip("basic", expression, person, frames, 96, 3)
    for t in range(frames):
        canvas = np.full((160, 200, 3), 90, dtype=np.uint8)
        if faces is not None:
            canvas[30:126, 50 + t:146 + t] = faces[t].permute(1, 2, 0).numpy()
        writer.write(np.ascontiguousarray(canvas[:, :, ::-1]))
    writer.release()


def make_afew(root):
    """3 emotions x 2 clips in train, 1 per emotion in val; id 000000001 is in both splits."""
    n = 0
    for folder, expression in EMOTIONS.items():
        for k in range(2):
            n += 1
            write_avi(root / "Train_AFEW" / folder / f"{n:09d}.avi", expression, person=1 + n % 5)
        write_avi(root / "Val_AFEW" / folder / f"{n - 1:09d}.avi", expression, person=2 + n % 3)
    return root
