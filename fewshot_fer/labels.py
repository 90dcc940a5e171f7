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
