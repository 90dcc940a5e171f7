"""The model that ships inside the package: a network exported without support faces (the folder
``pretrained/fer2013-seven``, described by ``pretrained/MODEL_CARD.md``), used by ``predict``,
``export``, ``demo`` and ``fewshot_fer.load_pretrained()`` when no checkpoint or model folder is
named. It was trained on FER2013's seven basic expressions; it fits any support set you give it."""

from __future__ import annotations

from pathlib import Path

SHIPPED_MODEL = Path(__file__).with_name("pretrained") / "fer2013-seven"
MODEL_CARD = SHIPPED_MODEL.parent / "MODEL_CARD.md"


def shipped_model() -> Path:
    """The shipped model folder, or a ``FileNotFoundError`` saying the installation lacks it."""
    if not (SHIPPED_MODEL / "weights.safetensors").is_file():
        raise FileNotFoundError(f"the shipped model is missing from this installation ({SHIPPED_MODEL}); reinstall "
                                f"fewshot-fer, or name a model: --checkpoint RUN/best.pt or --model FOLDER.")
    return SHIPPED_MODEL
