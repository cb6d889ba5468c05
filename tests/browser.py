"""A small headless-Chromium client over the Chrome DevTools Protocol, for the real-browser test.

Chromium comes from the system (Debian's ``chromium`` package; ``.ci/run`` installs it); the
client talks to it over its DevTools websocket (``websocket-client``), so nothing is downloaded.
:func:`find_chromium` says why when there is none, and the test skips with that reason.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import urlopen

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOCAL = ("127.0.0.1", "localhost")


def find_chromium() -> tuple[str | None, str]:
    """The Chromium executable, or None and the reason."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path, ""
    try:
        import websocket  # noqa: F401
    except ImportError:
        return None, "websocket-client is not installed"
    return None, f"no Chromium found (looked for {', '.join(CANDIDATES)}; on Debian: apt-get install chromium)"


class Server:
    """``http.server`` on 127.0.0.1 serving ``root`` from a thread."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Browser:
    """One headless Chromium with one page, driven over CDP."""

    def __init__(self, executable: str):
        import websocket

        self.profile = tempfile.mkdtemp(prefix="lab-chromium-")
        self.proc = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--metrics-recording-only", "--no-default-browser-check",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
            if not line and self.proc.poll() is not None:
                break
        if port is None:
            self.close()
            raise RuntimeError("Chromium did not start its DevTools endpoint")
        threading.Thread(target=self._drain, daemon=True).start()
        targets = json.loads(urlopen(f"http://127.0.0.1:{port}/json", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self._id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")

    def _drain(self):
        for _ in self.proc.stderr:
            pass

    def call(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def evaluate(self, expression: str, await_promise: bool = False):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in res:
            raise RuntimeError(f"evaluate failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def resize(self, width: int, height: int = 900) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 600)

    def load(self, url: str, timeout: float = 60) -> dict:
        """Navigate, wait for the load event and MathJax, and return what happened on the way."""
        self.events = []
        self.call("Page.navigate", url=url)
        deadline = time.time() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.time() > deadline:
                raise TimeoutError(f"{url} did not load in {timeout} s")
            self.events.append(json.loads(self.ws.recv()))
        for _ in range(3):  # a redirecting page (index.html) navigates once more
            try:
                self.evaluate("window.MathJax && MathJax.startup && MathJax.startup.promise ? "
                              "MathJax.startup.promise.then(() => true) : Promise.resolve(false)", await_promise=True)
                break
            except RuntimeError as err:
                if "navigated or closed" not in str(err):
                    raise
                time.sleep(0.5)
        time.sleep(0.2)
        self.evaluate("1")  # collect the events that arrived meanwhile
        return self.report()

    def report(self) -> dict:
        requests, errors = [], []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Network.requestWillBeSent":
                requests.append(p["request"]["url"])
            elif m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                errors.append(d.get("exception", {}).get("description") or d.get("text"))
            elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                errors.append(f"{p['entry']['text']} ({p['entry'].get('url', '')})")
            elif m == "Network.loadingFailed" and not p.get("canceled"):
                errors.append(f"request failed: {p.get('errorText')}")
        external = [u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
                    and urlparse(u).hostname not in LOCAL]
        return {"requests": requests, "external": external, "errors": errors}

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


#: In-page checks, as one JavaScript expression returning a JSON-able object.
PAGE_CHECKS = r"""(() => {
  const vw = document.documentElement.clientWidth;
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80));
  const merrors = [...document.querySelectorAll('mjx-merror, [data-mjx-error]')].map(e => e.getAttribute('data-mjx-error') || e.textContent.slice(0, 80));
  const images = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
  const claims = [...document.querySelectorAll('table.lab-claims')].map(t => Math.round(t.getBoundingClientRect().width));
  const main = document.querySelector('main') || document.body;
  const wide = [...main.querySelectorAll('pre, table.lab-claims, table.lab-score-summary, svg.lab-score-figure, img, .cell_output')]
    .filter(e => e.getBoundingClientRect().width > vw + 1 || e.getBoundingClientRect().right > vw + 1)
    .map(e => e.tagName + '.' + (e.className || '') + ': ' + (e.textContent || e.src || '').slice(0, 60));
  const injected = [...document.querySelectorAll('.tag_injected-parameters')].filter(e => e.offsetParent !== null).length;
  const eqOver = [...document.querySelectorAll('mjx-container[display="true"]')]
    .filter(m => m.scrollWidth > m.parentElement.clientWidth + 1).length;
  const boldGlue = [...document.querySelectorAll('h1 .pasted-text, h2 .pasted-text, h3 .pasted-text')]
    .filter(s => getComputedStyle(s).fontWeight !== getComputedStyle(s.closest('h1, h2, h3')).fontWeight).length;
  const tightCells = [...document.querySelectorAll('table.lab-kernel-timing td, table.lab-kernel-timing th')]
    .filter(c => parseFloat(getComputedStyle(c).paddingLeft) + parseFloat(getComputedStyle(c).paddingRight) < 8).length;
  return {vw, math: math.length, untypeset, merrors, images, claims, wide, injected, eqOver, boldGlue, tightCells,
          scrollWidth: document.documentElement.scrollWidth};
})()"""
