"""fewshot-fer demo in a real browser: headless Chromium (the system's, driven by Playwright) names
expressions, uploads support faces of lfw-expressions people, fits, uploads each shared photo and
finds on the page the labels and probabilities the recogniser computes for its faces.
DEMO_SCREENSHOT=PATH keeps a screenshot of the page (docs/images/demo.png is one)."""

import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from benchmarks.faults import fixtures as fx
from fewshot_fer.commands import demo, export
from fewshot_fer.demo.page import build_page
from fewshot_fer.demo.recognizer import Recognizer

pytest.importorskip("gradio", reason="the demo needs Gradio: pip install -e '.[test]'")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the browser test needs Playwright: pip install -e '.[test]'")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install chromium (.ci/run does)"),
              pytest.mark.skipif(not (DATA / "photos").is_dir(), reason=f"the shared photos are not at {DATA}")]
CLASSES = ("anger", "happiness", "surprise")


def support_files():
    """The first two lfw-expressions images of each class (read in place)."""
    return {name: sorted((DATA / "lfw-expressions" / name).glob("*.jpg"))[:2] for name in CLASSES}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    model = tmp / "model"
    assert export.main(["--checkpoint", str(fx.tiny_run() / "best.pt"), "--support", str(fx.support(tmp / "s")),
                        "--out", str(model), "--calibration-episodes", "20"]) == 0
    recognizer = Recognizer(model=str(model))
    page, port = build_page(recognizer), free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, inbrowser=False, quiet=True)
    yield recognizer, f"http://127.0.0.1:{port}"
    page.close()


def test_the_page_labels_every_face_of_the_shared_photos_as_the_recogniser_does(served):
    from PIL import Image

    recognizer, url = served
    support = support_files()
    fitted = recognizer.fit(list(support.items()))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(url)
        for i, (name, files) in enumerate(support.items()):
            page.locator(f"#name-{i} textarea, #name-{i} input").first.fill(name)
            page.locator(f"#faces-{i} input[type=file]").set_input_files([str(f) for f in files])
        for i, files in enumerate(support.values()):  # uploaded: one row per file
            sync_api.expect(page.locator(f"#faces-{i} tbody tr")).to_have_count(len(files), timeout=30000)
        page.locator("#fit").click()
        sync_api.expect(page.locator("#fit-status")).to_contain_text("Fitted on 6 faces of 3 expressions",
                                                                     timeout=30000)
        for photo in sorted((DATA / "photos").iterdir()):
            expected = fitted.recognise(np.asarray(Image.open(photo).convert("RGB")))
            page.locator("#photo input[type=file]").set_input_files(str(photo))
            page.locator("#recognise").click()
            word = f"{len(expected)} face{'s' if len(expected) != 1 else ''} found" if expected else "no face found"
            sync_api.expect(page.locator("#found")).to_have_text(word, timeout=30000)
            shown = [[cell.inner_text().strip() for cell in row.locator("td").all()]
                     for row in page.locator("#results table tbody tr").all()]
            shown = [row for row in shown if any(row)]
            assert [(row[1], float(row[2])) for row in shown] == \
                   [(f.label, round(f.probability, 3)) for f in expected], photo.name
            assert all(row[1] in (*support, "unknown") for row in shown)
            page.locator("#photo button[aria-label='Remove Image']").click()
        if os.environ.get("DEMO_SCREENSHOT"):
            page.screenshot(path=os.environ["DEMO_SCREENSHOT"], full_page=True)
        # the model's own example support faces
        page.locator("#fit-example").click()
        sync_api.expect(page.locator("#fit-status")).to_contain_text("Fitted on 6 faces of 3 expressions: frown, "
                                                                     "smirk, wide eyes")
        browser.close()


def test_the_command_refuses_two_models_and_a_bad_port_in_one_sentence(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--model", "x", "--checkpoint", "y"])  # argparse's usage error
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"--port must be from 0 to 65535, got 70000"):
        demo.main(["--model", "x", "--port", "70000"])
    with pytest.raises(ValueError, match=r"--port must be from 0 to 65535, got 70000"):
        demo.main(["--port", "70000"])  # no model named: the shipped one, after the port is checked
