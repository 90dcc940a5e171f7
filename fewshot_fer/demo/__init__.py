"""The demo page of ``fewshot-fer demo``: ``recognizer.py`` (fit on a few faces, label every face
of a photo, draw the boxes) and ``page.py`` (the Gradio page around it)."""
