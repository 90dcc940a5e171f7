"""The canonical expression vocabulary, in the one fixed order used everywhere in the toolkit."""

from __future__ import annotations

BASIC = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
CONTEMPT = "contempt"  # optional eighth class (CK+, FER+)

# Order of RAF-DB compound ids 1..11.
COMPOUND = (
    "happiness-surprise", "happiness-disgust", "sadness-fear", "sadness-anger",
    "sadness-surprise", "sadness-disgust", "fear-anger", "fear-surprise",
    "anger-surprise", "anger-disgust", "disgust-surprise",
)

# Common spellings of class folder and column names -> canonical names.
ALIASES = {
    "anger": "anger", "angry": "anger", "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happiness": "happiness", "happy": "happiness", "joy": "happiness",
    "sadness": "sadness", "sad": "sadness", "surprise": "surprise", "surprised": "surprise",
    "neutral": "neutral", "contempt": "contempt",
}

# FER2013 emotion ids (CSV layouts).
FER2013_IDS = {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness", 5: "surprise", 6: "neutral"}


def canonical_name(name: str) -> str:
    """Map a dataset's class name (any case, common spellings) to the canonical vocabulary."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    if key in ALIASES:
        return ALIASES[key]
    if key in COMPOUND:
        return key
    raise ValueError(f"class name {name!r} maps to no expression; expected one of "
                     f"{sorted(set(ALIASES))} or a compound name such as {COMPOUND[0]!r}.")


def parse_classes(names: str | list[str] | None) -> list[str] | None:
    """``"angry, happy"`` or a list -> canonical names; ``None`` stays ``None`` (all classes)."""
    if names is None or names == "":
        return None
    items = names.split(",") if isinstance(names, str) else list(names)
    return [canonical_name(n) for n in items if n.strip()]
