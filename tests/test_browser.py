"""The pages of xpnn serve in a real browser: Debian's chromium driven by Playwright 1.64
(its own Chromium is the same 156; it cannot download browsers here, so it launches
/usr/bin/chromium). Digits drawn with mouse strokes are read on the page, #clear empties the
pad, the dashboard gains a point per epoch, nothing is requested from elsewhere, and
neither a page of another local site nor a rebound name (DNS rebinding) can use the server.

With XPNN_SCREENSHOTS=DIR the tests also save both pages there (docs/images/ holds them).
"""
import os
from pathlib import Path

import numpy as np
import pytest

from clirun import xpnn_json
from pen_drawings import DRAWINGS, PLACES, cells_on_pad, on_pad

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic", "--disable-frame-rate-limit", "--disable-gpu-vsync"]
SCREENSHOTS = os.environ.get("XPNN_SCREENSHOTS")

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (the test extra has it)")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium; .ci/run "
                                  "installs it)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run of ``xpnn train`` (digits, its recipe, early stopping): its saved model, its
    --metrics-log records (the dashboard's test feeds them), its summary, its planned epochs."""
    import json

    from xpnn.saving.checkpoint import load_model

    folder = tmp_path_factory.mktemp("browser")
    summary = xpnn_json("train", "--early-stopping", "--save", folder / "digits.safetensors",
                        "--metrics-log", folder / "metrics.jsonl", "--quiet")
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    planned = load_model(folder / "digits.safetensors")[0].max_iter
    return folder / "digits.safetensors", records, summary, planned


@pytest.fixture(scope="module")
def server(default_digits_model):
    """The pad and dashboard server for the default model, on a free port of 127.0.0.1;
    the dashboard's run is fed by the tests."""
    from xpnn.serve.events import RunEvents
    from xpnn.serve.reader import DrawingReader
    from xpnn.serve.server import PadServer

    server = PadServer(("127.0.0.1", 0), reader=DrawingReader.load(default_digits_model),
                       events=RunEvents())
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    playwright = sync_api.sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(scope="module")
def page(browser, server):
    """One page for the module, with every request and console error it made."""
    page = browser.new_page(viewport={"width": 1100, "height": 720})
    page.requests, page.errors = [], []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("console", lambda message: message.type == "error"
            and page.errors.append(message.text))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    page.close()


def _one_digit_per_class():
    """The first held-out digit (xpnn train's test split) of each class: [(label, 8x8)]."""
    from xpnn.data.sources import load_source
    from xpnn.data.split import holdout_split

    _, test = holdout_split(load_source(None, "digits").train, 0.2, 0)
    return [(label, test.X[int(np.flatnonzero(test.y == label)[0])].reshape(8, 8))
            for label in range(10)]


def _draw(page, image):
    """The digit's strokes over its cells, 200 px high in the middle of the 280 px pad (the
    pen is the page's own)."""
    _pen(page, cells_on_pad(image))


def test_drawn_digits_are_read_on_the_page(page, server):
    """Ten held-out digits, one per class, drawn as mouse strokes over their inked cells:
    #prediction reads at least 9 right (tests/test_serve.py draws 50 with the pad's pen)."""
    page.goto(server.url + "pad")
    page.wait_for_selector("body[data-ready=true]")
    read = []
    for label, image in _one_digit_per_class():
        page.click("#clear")
        _draw(page, image)
        read.append(page.inner_text("#prediction"))
    right = sum(text == str(label) for label, text in zip(range(10), read))
    print(f"drawn digits read right in Chromium: {right}/10 ({read})")
    assert right >= 9, read
    assert page.locator("#bars .bar").count() == 10  # a bar per class


def _pen(page, strokes):
    """Mouse strokes through points in the pad's own pixels; then the last answer."""
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / 280
    for stroke in strokes:
        points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point)
        page.mouse.up()
    page.wait_for_selector("#pad[data-state=idle]")


def test_digits_drawn_as_people_draw_them_are_read_right(page, server):
    """Every digit as pen strokes (a 1 as a line and with a flag, a 7 as two strokes, an
    open and a closed 4, a 9 with a straight tail, ...; tests/pen_drawings.py), each large in
    the middle, middling at the top left and small at the bottom right: all read right."""
    page.goto(server.url + "pad")
    page.wait_for_selector("body[data-ready=true]")
    wrong = []
    for label, what, strokes, aspect in DRAWINGS:
        for height, left, top in PLACES:
            page.click("#clear")
            _pen(page, on_pad(strokes, aspect, height, left, top))
            if page.inner_text("#prediction") != label:
                wrong.append((what, height, page.inner_text("#prediction")))
            if SCREENSHOTS and what == "a 1 as one line" and height == max(PLACES)[0]:
                page.screenshot(path=str(Path(SCREENSHOTS) / "serve_draw.png"))
    print(f"pen drawings read right in Chromium: {len(DRAWINGS) * len(PLACES) - len(wrong)}"
          f"/{len(DRAWINGS) * len(PLACES)}, wrong (drawing, height, read): {wrong}")
    assert wrong == []


def test_clear_empties_the_pad(page, server):
    page.goto(server.url + "pad")
    page.wait_for_selector("body[data-ready=true]")
    _draw(page, _one_digit_per_class()[0][1])
    ink = "() => { const c = document.getElementById('pad'); return c.getContext('2d')" \
          ".getImageData(0, 0, c.width, c.height).data.reduce((a, b) => a + b, 0); }"
    assert page.evaluate(ink) > 0 and page.inner_text("#prediction") != ""
    page.click("#clear")
    assert page.evaluate(ink) == 0
    assert page.inner_text("#prediction") == ""


def test_the_dashboard_gains_a_point_per_epoch(page, server, run):
    """Epoch records fed to the run one at a time: each adds one point to both curves
    (training and validation) on both charts, and the epoch; the end names the kept epoch."""
    from xpnn.reports.history import kept_epoch

    _, records, summary, planned = run
    page.goto(server.url + "dashboard")
    server.events.start(planned, source=summary["data"], early_stopping=True, finished=False)
    for done, record in enumerate(records, start=1):
        server.events.epoch(record)
        page.wait_for_selector(f"body[data-epochs='{done}']")
        for chart in ("#loss-chart", "#accuracy-chart"):
            assert page.locator(f"{chart} circle.train").count() == done
            assert page.locator(f"{chart} circle.val").count() == done
        assert page.inner_text("#epoch") == f"epoch {done} of {planned}"
    kept = kept_epoch(records)
    server.events.end(kept, sum(r["seconds"] for r in records),
                      test_accuracy=summary["test_accuracy"], wall_seconds=summary["seconds"])
    page.wait_for_selector("body[data-finished=true]")
    assert page.inner_text("#kept").startswith(f"epoch {kept} (best validation accuracy)")
    assert page.locator("#loss-chart line.kept").count() == 1
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1100, "height": 780})
        page.screenshot(path=str(Path(SCREENSHOTS) / "serve_dashboard.png"))


def test_the_pages_request_nothing_from_elsewhere(page, server):
    """Playwright's request log after the tests above: only the server's own origin; and no
    console error (a Content-Security-Policy violation would be one)."""
    assert page.requests
    assert all(url.startswith(server.url) for url in page.requests), page.requests
    assert {url[len(server.url) - 1:].split("?")[0] for url in page.requests} >= {
        "/pad", "/pad.js", "/style.css", "/api/model", "/api/predict", "/dashboard",
        "/dashboard.js", "/api/events"}
    assert page.errors == []


# -- only its own pages -----------------------------------------------------------------

PROBE = """<!doctype html><meta charset="utf-8"><title>another site</title><script>
const pad = "PAD";
async function probe() {
  const seen = {};
  try { seen.model = await (await fetch(pad + "api/model")).text(); }
  catch (error) { seen.model = "blocked"; }
  try {  // a form-like POST needs no CORS to be sent: the server itself must refuse it
    await fetch(pad + "api/predict", {method: "POST", mode: "no-cors", body: "{}",
                                      headers: {"Content-Type": "text/plain"}});
    seen.predict = "sent";
  } catch (error) { seen.predict = "blocked"; }
  seen.events = await new Promise((resolve) => {
    const stream = new EventSource(pad + "api/events");
    stream.addEventListener("run", () => { stream.close(); resolve("read"); });
    stream.onerror = () => { stream.close(); resolve("blocked"); };
  });
  document.body.dataset.seen = JSON.stringify(seen);
}
probe();
</script><body></body>"""


@pytest.fixture
def other_site(tmp_path, server):
    """A second local server, on another port, serving a page that tries the pad's API."""
    import functools
    import http.server
    import threading

    (tmp_path / "index.html").write_text(PROBE.replace("PAD", server.url))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp_path)
    handler.log_message = lambda *args: None
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{site.server_address[1]}/"
    site.shutdown()
    site.server_close()


def test_a_page_of_another_local_site_cannot_use_the_pad(browser, server, other_site, capfd):
    """Its fetch of /api/model, its POST to /api/predict and its event stream reach the
    server with the other site's Origin: each refused (one line each); then the pad's own
    page still reads a drawing."""
    import json

    if not server.events.events:  # the stream has something to give a page allowed to read
        server.events.start(3, source="digits", early_stopping=False, finished=False)
    other = browser.new_page()
    try:
        other.goto(other_site)
        other.wait_for_selector("body[data-seen]", state="attached")
        seen = json.loads(other.get_attribute("body", "data-seen"))
    finally:
        other.close()
    assert seen == {"model": "blocked", "predict": "sent", "events": "blocked"}
    refused = [line for line in capfd.readouterr().err.splitlines() if "refused" in line]
    for call in ("GET /api/model", "POST /api/predict", "GET /api/events"):
        assert any(line.startswith(f"xpnn serve: refused {call}: a page of "
                                   f"'{other_site.rstrip('/')}' may not") for line in refused)
    own = browser.new_page()
    try:
        own.goto(server.url + "pad")
        own.wait_for_selector("body[data-ready=true]")
        label, image = _one_digit_per_class()[0]
        _draw(own, image)
        assert own.inner_text("#prediction") == str(label)
    finally:
        own.close()


def test_a_rebound_name_gets_a_403_in_the_browser(browser, server):
    """DNS rebinding for real: Chromium resolves evil.example to 127.0.0.1; the page it asks
    the pad's port for is refused, so nothing of the server reaches that site's scripts."""
    rebound = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"])
    try:
        page = rebound.new_page()
        port = server.server_address[1]
        for path in ("pad", "api/model"):
            response = page.goto(f"http://evil.example:{port}/{path}")
            assert response.status == 403
            assert response.json()["error"].startswith(f"Host 'evil.example:{port}' is not")
    finally:
        rebound.close()
