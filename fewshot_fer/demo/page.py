"""The demo page (Gradio): name a few expressions and drop a few face images for each (or take the
model's example support faces), then a photo or a webcam frame: every face found is boxed and
labelled with its probability, or ``unknown``. Runs locally; nothing is sent anywhere."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from .recognizer import FittedRecognizer, Recognizer, annotate, table

SLOTS = 6  # expressions the page offers fields for
HEADERS = ["face", "label", "probability", "distance", "box (x0 y0 x1 y1)"]


def require_gradio() -> Any:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network at run time
    try:
        import gradio
    except ImportError:
        raise ValueError("fewshot-fer demo needs Gradio: pip install 'fewshot-fer[demo]'.") from None
    return gradio


def build_page(recognizer: Recognizer) -> Any:
    """The Gradio ``Blocks`` of the page around ``recognizer``."""
    gr = require_gradio()

    def fit(*fields: Any) -> tuple[FittedRecognizer | None, str]:
        names, files = fields[:SLOTS], fields[SLOTS:]
        try:
            fitted = recognizer.fit([(n or "", [Path(f) for f in (fs or [])]) for n, fs in zip(names, files)])
        except (ValueError, OSError) as err:
            return None, f"**Not fitted:** {err}"
        return fitted, fitted_text(fitted)

    def fit_example() -> tuple[FittedRecognizer | None, str]:
        try:
            fitted = recognizer.fit_example()
        except ValueError as err:
            return None, f"**Not fitted:** {err}"
        return fitted, fitted_text(fitted)

    def recognise(fitted: FittedRecognizer | None, photo: np.ndarray | None) -> tuple[Any, str, str]:
        if fitted is None:
            return None, "", "**Fit the model first** (faces for each expression, or the example support faces)."
        if photo is None:
            return None, "", "**Give a photo** (upload one, or take one with the webcam)."
        rgb = np.ascontiguousarray(photo[..., :3] if photo.ndim == 3 else np.stack([photo] * 3, -1)).astype(np.uint8)
        faces = fitted.recognise(rgb)
        found = f"{len(faces)} face{'s' if len(faces) != 1 else ''} found" if faces else "no face found"
        return annotate(rgb, faces), html_table(table(faces)), found

    with gr.Blocks(title="fewshot-fer demo") as page:
        gr.Markdown("# fewshot-fer: expressions from a few examples\n"
                    "1. Name two or more expressions and drop a few face images of each (or use the model's "
                    "example support faces). 2. Give a photo or a webcam frame. Every face found is boxed "
                    "with its label and probability; a face far from every expression is `unknown` (with a "
                    "model exported with a threshold). Nothing leaves this computer.")
        names, files = [], []
        with gr.Row():
            for i in range(SLOTS):
                with gr.Column(min_width=160):
                    names.append(gr.Textbox(label=f"expression {i + 1}", elem_id=f"name-{i}"))
                    files.append(gr.File(file_count="multiple", file_types=["image"], label="face images",
                                         elem_id=f"faces-{i}"))
        with gr.Row():
            fit_button = gr.Button("Fit on these faces", variant="primary", elem_id="fit")
            example_button = gr.Button("Use the example support faces", elem_id="fit-example",
                                       interactive=recognizer.example is not None)
        status = gr.Markdown("Not fitted yet.", elem_id="fit-status")
        fitted = gr.State(None)
        with gr.Row():
            photo = gr.Image(sources=["upload", "webcam"], type="numpy", label="photo", elem_id="photo")
            shown = gr.Image(type="pil", label="faces found", interactive=False, elem_id="annotated")
        recognise_button = gr.Button("Recognise", variant="primary", elem_id="recognise")
        found = gr.Markdown("", elem_id="found")
        results = gr.HTML("", elem_id="results")
        fit_button.click(fit, [*names, *files], [fitted, status])
        example_button.click(fit_example, [], [fitted, status])
        recognise_button.click(recognise, [fitted, photo], [shown, results, found])
    return page


def html_table(rows: list[list[Any]]) -> str:
    """The faces as a plain HTML table (every value escaped)."""
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def fitted_text(fitted: FittedRecognizer) -> str:
    return f"Fitted on {fitted.faces} faces of {len(fitted.names)} expressions: {', '.join(fitted.names)}."
