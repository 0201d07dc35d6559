"""The report in a real browser: headless Chromium loads it from disk, offline.

Chromium is driven over the DevTools protocol through ``--remote-debugging-pipe`` (NUL-separated
JSON on file descriptors 3 and 4), which needs no port, no websocket library and no network.
The screenshot is kept in reports/out/ as a CI artifact.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conversion.report.build import report_from_files
from conversion.report.screenshot import CHROMIUM_FLAGS, find_chromium
from tests.report_samples import run_result

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "reports" / "out"
CHROMIUM = find_chromium()
FLAGS = [*CHROMIUM_FLAGS, "--window-size=1280,1600"]
TIMEOUT = 60.0


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, binary: str, profile: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds() -> None:  # in the child: the pipe ends become fds 3 (commands) and 4 (replies)
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=wire_fds, pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buf = b""
        while chunk := os.read(self._from_browser, 65536):
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._replies[msg["id"]] = msg
                        self._cond.notify_all()
                else:
                    self.events.put(msg)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        with self._cond:
            while self._next_id not in self._replies:
                if not self._cond.wait(timeout=max(deadline - time.monotonic(), 0)):
                    raise TimeoutError(f"no reply to {method} within {TIMEOUT:.0f} s")
            reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):  # the browser may be gone already
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)


@pytest.fixture(scope="module")
def loaded_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    tmp = tmp_path_factory.mktemp("browser")
    files = [run_result(tmp / "a1.json", "machineA", "2026-11-01T10:00:00"),
             run_result(tmp / "a2.json", "machineA", "2026-11-02T10:00:00", onnx_scale=1.2)]
    index = report_from_files(files, tmp / "report")
    profile = tempfile.mkdtemp(prefix="onnxgate-chromium-")
    browser = DevTools(CHROMIUM, profile)
    try:
        target = next(t for t in browser.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        session = browser.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Page.navigate", {"url": index.resolve().as_uri()}, session=session)
        events, loaded = [], False
        deadline = time.monotonic() + TIMEOUT
        while not loaded and time.monotonic() < deadline:
            try:
                event = browser.events.get(timeout=1)
            except queue.Empty:
                continue
            events.append(event)
            loaded = event.get("method") == "Page.loadEventFired"
        assert loaded, "the report did not finish loading"
        checks = browser.send("Runtime.evaluate", {"expression": """
            (async () => {
              const images = await Promise.all([...document.images].map(img =>
                img.decode().then(() => ({alt: img.alt, width: img.naturalWidth}),
                                  () => ({alt: img.alt, width: 0}))));
              const count = sel => document.querySelectorAll(sel).length;
              return {images, verdicts: count('tr.verdict'), matrix: count('table.parity-matrix td'),
                      latency: count('table.latency-table tr'), manifest: count('table.manifest tr'),
                      history: count('table.history-table tr'), title: document.title};
            })()""", "awaitPromise": True, "returnByValue": True}, session=session)["result"]["value"]
        time.sleep(0.3)  # let late console messages arrive
        while not browser.events.empty():
            events.append(browser.events.get())
        size = browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        shot = browser.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}},
            session=session)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        screenshot = ARTIFACTS / "browser-test-report.png"
        screenshot.write_bytes(base64.b64decode(shot["data"]))
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    return {"checks": checks, "events": events, "screenshot": screenshot, "index": index}


def test_every_image_decodes(loaded_report: dict[str, Any]) -> None:
    images = loaded_report["checks"]["images"]
    assert len(images) >= 4
    broken = [i["alt"] for i in images if i["width"] <= 0]
    assert not broken, f"images that did not decode: {broken}"


def test_no_console_errors(loaded_report: dict[str, Any]) -> None:
    errors = []
    for e in loaded_report["events"]:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(str(params.get("args")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text"))
    assert not errors


def test_nothing_is_fetched_from_the_network(loaded_report: dict[str, Any]) -> None:
    urls = [e["params"]["request"]["url"] for e in loaded_report["events"]
            if e.get("method") == "Network.requestWillBeSent"]
    assert urls, "the page load itself should be seen"
    assert all(u.startswith(("file:", "data:")) for u in urls), urls


def test_main_tables_are_present(loaded_report: dict[str, Any]) -> None:
    checks = loaded_report["checks"]
    assert checks["title"] == "onnxgate report"
    assert checks["verdicts"] >= 2
    assert checks["matrix"] > 0 and checks["latency"] > 1 and checks["manifest"] > 1 and checks["history"] > 1


def test_screenshot_is_kept_as_artifact(loaded_report: dict[str, Any]) -> None:
    shot: Path = loaded_report["screenshot"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000
