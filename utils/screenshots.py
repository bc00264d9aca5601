"""The README's screenshots of the app, made from the real app in headless chromium.

Starts ``python app.py`` on a free local port (its real models), drives it with Playwright in Debian's
chromium (``apt-get install -y chromium``; ``--chromium`` for another binary) and writes:

* ``docs/app/screenshot.png``: the "Compare models" tab after colorizing a bundled sample photo with one
  model (the README's App section shows it);
* ``docs/app/screenshot-guide.png``: the "Guide the colours" tab with two hints placed on the same photo
  (numbered dots) and the model's suggested colours as swatches, the last hint recoloured from one.

    python utils/screenshots.py                       # docs/samples/coffee-gray.jpg, the default model
    python utils/screenshots.py --photo docs/samples/astronaut-gray.jpg --model chroma --out /tmp/shots
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
VIEWPORT = {"width": 1280, "height": 900}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"app.py exited with status {server.returncode} before it answered")
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"app.py did not answer at {url} within {within_s:g} s")


def settle(page, selector: str) -> None:
    """Wait until every image under ``selector`` is decoded, then a moment for fades and layout."""
    page.wait_for_function(
        "sel => { const imgs = [...document.querySelectorAll(sel)];"
        " return imgs.length > 0 && imgs.every((img) => img.complete && img.naturalWidth > 0); }",
        arg=selector,
    )
    page.wait_for_timeout(800)


def compare_tab(page, photo: Path, model: str, target: Path) -> None:
    page.set_input_files("#input-image input[type=file]", str(photo))
    page.wait_for_selector("#input-image img")
    page.click("#models .remove-all")  # exactly one model: the one asked for
    page.click("#models input")
    page.keyboard.type(model)
    page.keyboard.press("Enter")
    page.click("h1")
    page.click("#colorize-button")
    page.wait_for_function(
        "model => (document.querySelector('#metrics')?.innerText || '').includes(model)"
        " && document.querySelectorAll('#before-after img').length === 2",
        arg=model,
    )
    settle(page, "#gallery img, #before-after img")
    page.screenshot(path=str(target), full_page=True)


def result_src(page) -> str | None:
    return page.evaluate("() => document.querySelector('#guide-result img')?.src || null")


def wait_new_result(page, before: str | None) -> None:
    page.wait_for_function(
        "src => { const img = document.querySelector('#guide-result img');"
        " return img && img.src !== src && img.complete && img.naturalWidth > 0; }",
        arg=before,
    )


def guide_tab(page, photo: Path, target: Path) -> None:
    page.get_by_role("tab", name="Guide the colours").click()
    page.set_input_files("#guide-image input[type=file]", str(photo))
    shown = page.locator("#guide-image img")
    shown.wait_for()
    settle(page, "#guide-image img")
    for count, (fx, fy) in enumerate(((0.30, 0.55), (0.70, 0.35)), start=1):
        before, box = result_src(page), shown.bounding_box()
        shown.click(position={"x": box["width"] * fx, "y": box["height"] * fy})
        page.wait_for_function(f"document.querySelectorAll('#guide-image .hint-marker').length === {count}")
        wait_new_result(page, before)  # each hint redraws the result
    swatch = page.locator("#guide-swatches .swatch").nth(1)  # recolour the last hint from a suggestion
    before = result_src(page)
    swatch.click()
    page.wait_for_function(
        "hex => (document.querySelector('#guide-hints')?.innerText || '').includes(hex)",
        arg=swatch.get_attribute("data-hex"),
    )
    wait_new_result(page, before)
    settle(page, "#guide-image img, #guide-result img")
    page.screenshot(path=str(target), full_page=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=ROOT / "docs" / "samples" / "coffee-gray.jpg")
    parser.add_argument("--model", default=None, help="the model colorizing in the Compare tab (default: the app's)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "app")
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    parser.add_argument("--startup-seconds", type=float, default=600)
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    import colorizers

    model = args.model or colorizers.DEFAULT_MODEL
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(
        os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False"
    )
    with tempfile.TemporaryDirectory() as cache:
        env["COLORIZERS_APP_CACHE"] = cache
        server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env)
        try:
            wait_until_up(url, server, args.startup_seconds)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(args.chromium), headless=True, args=ARGS)
                try:
                    page = browser.new_page(viewport=VIEWPORT)
                    page.set_default_timeout(300_000)
                    page.goto(url)
                    page.wait_for_selector("#colorize-button")
                    written = [args.out / "screenshot.png", args.out / "screenshot-guide.png"]
                    compare_tab(page, args.photo, model, written[0])
                    guide_tab(page, args.photo, written[1])
                finally:
                    browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
