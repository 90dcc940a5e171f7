"""``fewshot-fer demo``: a local web page where you name a few expressions, drop a few faces of
each (or take the model's example support faces), then give a photo or a webcam frame and see
every face boxed with its label, probability or "unknown". Needs Gradio (pip install
'fewshot-fer[demo]'); the page is served on this computer only and nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from ..data.faces import DETECTORS
from ..demo.page import build_page, require_gradio
from ..demo.recognizer import Recognizer
from .cli import add_debug_flag, command_parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("demo", __doc__,
                       "fewshot-fer export --checkpoint runs/X/best.pt --support my_support/ --out my_model/ && "
                       "fewshot-fer demo --model my_model/")
    m = p.add_mutually_exclusive_group()  # neither: the model shipped in the package
    m.add_argument("--model", help="a folder made by fewshot-fer export: its support faces are the page's example "
                                   "set and its threshold says 'unknown'")
    m.add_argument("--checkpoint", help="best.pt of a training run (no example faces, no 'unknown')")
    p.add_argument("--face-detector", default="haar",
                   help=f"finds the faces in photos: {', '.join(d for d in DETECTORS if d != 'none')} or a cascade XML "
                        f"file")
    p.add_argument("--align", action="store_true", help="align each face on its eyes (MTCNN: five landmarks)")
    p.add_argument("--port", type=int, default=7860, help="port of the page on 127.0.0.1 (0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to serve on; 0.0.0.0 makes the page reachable from other computers")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    add_debug_flag(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be from 0 to 65535, got {args.port}.")
    require_gradio()  # before the model loads: the missing extra is the first thing to know
    recognizer = Recognizer(args.checkpoint, args.model, args.face_detector, args.align)
    page = build_page(recognizer)
    page.launch(server_name=args.host, server_port=args.port or None, inbrowser=not args.no_browser, share=False,
                quiet=False)
    return 0


if __name__ == "__main__":
    run_cli(main)
