"""Opens an evaluation report's index.html in headless Chromium and checks it as a reader would.

Usage: python3 check_report_page.py DIR/index.html DIR/report.json SCREENSHOT.png

Through Chromium's DevTools protocol (the page loaded from its file:// URL, the network off):
no console error, warning from the page, or uncaught exception; every <img> loaded (complete,
natural size above 0); every figure the page tags with data-key/data-value equal to the same
figure in report.json (to its 1e-6 rounding), and at least the summary's. Saves a screenshot of
the whole page. Prints a JSON summary; exits 0 when all holds, 1 when not, 3 when Chromium or
the websocket-client package is missing.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lookup(report, key):
    """report.json's figure for a page key: "mean_error_px", "pck.0.05", "oks.ap"."""
    value = report
    head, _, tail = key.partition(".")
    value = value.get(head) if isinstance(value, dict) else None
    if tail:
        value = value.get(tail) if isinstance(value, dict) else None
    return value


def main():
    page, report_path, screenshot = sys.argv[1:4]
    try:
        import websocket
    except ImportError:
        print("websocket-client is not installed: pip install websocket-client")
        return 3
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("Chromium is not installed (Debian: apt-get install chromium)")
        return 3
    report = json.load(open(report_path))
    port = free_port()
    profile = tempfile.mkdtemp()
    process = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9",
         "--window-size=1200,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        targets = None
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=1))
                if any(t.get("type") == "page" for t in targets):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        target = next(t for t in targets if t.get("type") == "page")
        connection = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30)
        counter = [0]
        problems = []

        def send(method, params=None):
            counter[0] += 1
            connection.send(json.dumps({"id": counter[0], "method": method, "params": params or {}}))
            return counter[0]

        def note(message):
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                problems.append("console " + params["type"] + ": " + json.dumps(params.get("args"))[:200])
            elif method == "Runtime.exceptionThrown":
                problems.append("exception: " + json.dumps(params.get("exceptionDetails"))[:200])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                problems.append("log: " + params["entry"].get("text", "")[:200])

        def wait(request=None, event=None):
            while True:
                message = json.loads(connection.recv())
                note(message)
                if request is not None and message.get("id") == request:
                    return message.get("result", {})
                if event is not None and message.get("method") == event:
                    return message.get("params", {})

        for method in ("Runtime.enable", "Log.enable", "Page.enable"):
            wait(send(method))
        send("Page.navigate", {"url": "file://" + os.path.abspath(page)})
        wait(event="Page.loadEventFired")
        time.sleep(0.3)  # late console messages
        probe = """JSON.stringify({
          images: Array.from(document.images).map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
          figures: Array.from(document.querySelectorAll('[data-key]')).map(e => ({key: e.dataset.key, value: e.dataset.value}))
        })"""
        found = json.loads(wait(send("Runtime.evaluate", {"expression": probe, "returnByValue": True}))["result"]["value"])
        broken = [image["src"] for image in found["images"] if not image["ok"]]
        mismatched = []
        for figure in found["figures"]:
            expected = lookup(report, figure["key"])
            if expected is None or abs(float(figure["value"]) - float(expected)) > 1e-6 * max(1, abs(float(expected))):
                mismatched.append({"key": figure["key"], "page": figure["value"], "report.json": expected})
        metrics = wait(send("Page.getLayoutMetrics"))
        size = metrics.get("cssContentSize") or metrics.get("contentSize")
        shot = wait(send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}))
        with open(screenshot, "wb") as out:
            out.write(base64.b64decode(shot["data"]))
        connection.close()
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(profile, ignore_errors=True)
    summary = {"images": len(found["images"]), "broken_images": broken, "figures": len(found["figures"]),
               "mismatched": mismatched, "problems": problems, "screenshot": screenshot}
    print(json.dumps(summary))
    keys = {figure["key"] for figure in found["figures"]}
    ok = not broken and not mismatched and not problems and {"mean_error_px", "median_error_px"} <= keys
    return 0 if ok and found["images"] else 1


if __name__ == "__main__":
    sys.exit(main())
