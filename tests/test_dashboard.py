"""The collector's `/` page in headless Chromium: it shows the summary table and plot and
refreshes by itself when reports arrive. Chromium is driven over the DevTools protocol on a
pipe (--remote-debugging-pipe), so no extra Python package is needed."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from mobilekit.collector.client import CollectorClient
from mobilekit.collector.process import CollectorProcess
from mobilekit.collector.wire import SCHEMA_DIR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "dash-token"


class Browser:
    """Headless Chromium speaking the DevTools protocol over fds 3 (in) and 4 (out)."""

    def __init__(self, profile: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # The child must see its ends as fds 3 and 4.
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=lambda: (os.dup2(to_chrome_r, 3), os.dup2(from_chrome_w, 4)))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id, self._buf = 0, b""
        self.session = None

    def send(self, method: str, **params):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        while True:  # skip events until our answer
            while b"\0" not in self._buf:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str, width: int = 1500, height: int = 1100) -> None:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", url=url)

    def js(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 30.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"page never satisfied {expression!r}; body: "
                             f"{self.js('document.body && document.body.innerText')!r}")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        for fd in (self._to_chrome, self._from_chrome):
            os.close(fd)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _run(model: str, device: str, units: str, target: str, median: float, rid: str) -> dict:
    name = "report_ios_ane.json" if target in ("ane", "coreml-gpu") else "report_android_xnnpack.json"
    p = json.loads((SCHEMA_DIR / "golden" / name).read_text())
    p["report_id"] = rid
    p["artifact"].update(model=model, target=target)
    p["device"]["model"] = device
    p["config"]["compute_units"] = units
    p["results"]["latency_ms"] = dict(min=median * 0.95, median=median, mean=median, p90=median * 1.1, std=0.2)
    return p


ROWS = 'document.querySelectorAll("#summary tbody tr:not(:has(.empty))").length'
PLOT_READY = ('(() => { const i = document.getElementById("plot");'
              ' return i.complete && i.naturalWidth > 0 ? i.src : ""; })()')


def test_dashboard_shows_the_table_and_plot_and_refreshes_as_reports_arrive(tmp_path):
    if CHROMIUM is None:  # a failure, not a skip: install.sh installs it
        pytest.fail("chromium is not installed: run 'bash install.sh' as root, or "
                    "'apt-get install -y chromium'")
    with CollectorProcess(f"sqlite:///{tmp_path / 'c.db'}", TOKEN, log_path=tmp_path / "server.log") as server:
        browser = Browser(tmp_path / "profile")
        try:
            browser.open(server.url + "/")
            browser.wait_for('document.body.innerText.includes("no reports yet")')
            assert browser.js(ROWS) == 0
            empty_plot = browser.wait_for(PLOT_READY)

            client = CollectorClient(server.url, token=TOKEN)
            for path in sorted((SCHEMA_DIR / "golden").glob("report_*.json")):
                client.post_report(json.loads(path.read_text()))
            runs = [("vtn_eff", "iPhone 15 Pro", "cpuAndNeuralEngine", "ane", 2.9),
                    ("vtn_r50", "iPhone 15 Pro", "cpuAndNeuralEngine", "ane", 9.8),
                    ("vlf_b0", "iPhone 15 Pro", "cpuAndGPU", "coreml-gpu", 11.0),
                    ("vtn_eff", "iPhone 15 Pro", "cpuAndGPU", "coreml-gpu", 8.1),
                    ("vtn_eff", "Pixel 8", "cpu", "xnnpack", 30.2),
                    ("vtn_r50", "Pixel 8", "cpu", "xnnpack", 151.0),
                    ("vlf_b0", "Galaxy S23", "cpu", "xnnpack", 38.0),
                    ("vtn_eff", "Galaxy S23", "cpu", "xnnpack", 27.5)]
            for i, run in enumerate(runs):
                client.post_report(_run(*run, rid=f"dash-{i:04d}"))
            # 4 goldens (one failed run: x3d_xs; the streaming run joins the Pixel's vlf_b0 row)
            # + 8 runs -> 11 rows; no reload of the page.
            browser.wait_for(f"{ROWS} === 11")
            browser.wait_for(f'{PLOT_READY} && {PLOT_READY} !== {json.dumps(empty_plot)}')
            text = browser.js("document.body.innerText")
            assert "12 reports" in text and "x3d_xs" in text and "Galaxy S23" in text
            cells = browser.js('[...document.querySelectorAll("#summary tbody tr")].map('
                               'r => [...r.children].map(c => c.textContent))')
            ane = {c[0]: c for c in cells if c[2] == "ANE"}
            assert ane["vtn_eff"][-2] == "1.00" and ane["vlf_b0"][-2] == f"{4.12 / 2.9:.2f}"
            # The outputs column (the check set's numerics): the iOS golden agrees, the Android
            # golden's outputs disagree and its row is flagged; the failed run was not checked.
            assert ane["vlf_b0"][-1] == "agrees 1/1, max diff 0.012, acc 75%"
            pixel = next(c for c in cells if c[0] == "vlf_b0" and c[1] == "Pixel 8")
            assert pixel[-1] == "DISAGREES 1/1, max diff 0.042"
            # Clip and per-frame latency side by side: the streaming golden's 4.31 ms per new
            # frame beside the clip golden's 43.5 ms on the same phone and target.
            assert pixel[7:11] == ["43.50", "47.90", "4.31", f"{4.31 / 43.5:.3f} (1/10)"]
            assert next(c for c in cells if c[0] == "vtn_eff" and c[1] == "Pixel 8")[9:11] == ["-", "-"]
            assert next(c for c in cells if c[0] == "x3d_xs")[-1] == "-"
            flagged = browser.js('[...document.querySelectorAll("#summary tbody tr.flagged")]'
                                 '.map(r => r.children[0].textContent + "@" + r.children[1].textContent)')
            assert "vlf_b0@Pixel 8" in flagged and "vlf_b0@iPhone 15 Pro" not in flagged

            # Choosing a reference model re-draws relative to it.
            browser.js('(() => { const s = document.getElementById("ref"); s.value = "vlf_b0";'
                       ' s.dispatchEvent(new Event("change")); })()')
            browser.wait_for('document.getElementById("relhead").textContent === "rel. (vlf_b0=1)"')
            browser.wait_for(f'{PLOT_READY}.includes("relative_to=vlf_b0")')
            shot = tmp_path / "dashboard.png"
            browser.screenshot(shot)
        finally:
            browser.close()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    if os.environ.get("MOBILEKIT_SCREENSHOT"):  # keep it to look at
        shutil.copy(shot, os.environ["MOBILEKIT_SCREENSHOT"])
