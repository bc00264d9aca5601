"""The Gradio app in a real browser: Debian's chromium driven by Playwright.

CI installs the browser with ``apt-get install -y chromium`` (Playwright's own browser download is not
used). Screenshots go to ``test-artifacts/``; with ``COLORIZERS_UPDATE_SCREENSHOT=1`` the two-model one is
also written to ``docs/app/screenshot.png``. The README's screenshots come from ``utils/screenshots.py``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import color as skimage_color

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian chromium is not installed at /usr/bin/chromium (apt-get install -y chromium); CI installs it",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytest.importorskip("gradio")

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_server import served  # noqa: E402
from test_app import RecordingLoader  # noqa: E402

import app  # noqa: E402
import colorizers  # noqa: E402
from colorizers.app import compare as app_compare  # noqa: E402
from colorizers.registry import count_parameters  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
# the smallest preset without shipped weights: the app labels it "untrained" (None once every preset is trained)
UNTRAINED = min(
    (name for name in colorizers.list_models() if not colorizers.get_preset(name).has_weights),
    key=count_parameters,
    default=None,
)
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@pytest.fixture(scope="module")
def url():
    with served(RecordingLoader()) as address:  # knows "test/zero-ab" too
        yield address


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector("#colorize-button")
    yield page
    page.close()


def wait_text(page, selector: str, text: str) -> str:
    """Wait until the element's text contains ``text``; return that text."""
    page.wait_for_function(
        "([selector, text]) => (document.querySelector(selector)?.innerText || '').includes(text)",
        arg=[selector, text],
    )
    return page.inner_text(selector)


def table_rows(page) -> list[list[str]]:
    rows = [row.split("\n") for row in page.locator("#metrics [role=row]").all_inner_texts()]
    return [[cell.strip() for cell in row if cell.strip()] for row in rows]


def test_upload_colorize_with_two_models_and_see_gallery_slider_and_metrics(page):
    if UNTRAINED is None:
        pytest.skip("every preset ships trained weights: no untrained label to show")
    photo = app.CACHE_ROOT / "examples" / "chelsea.png"  # written by the app at start-up
    page.set_input_files("#input-image input[type=file]", str(photo))
    page.wait_for_selector("#input-image img")
    page.click("#models input")  # the default model is preselected; add a second one from the list
    page.keyboard.type(UNTRAINED)
    page.get_by_role("option", name=f"{UNTRAINED} (untrained: random weights)").click()
    page.click("h1")
    page.click("#colorize-button")

    wait_text(page, "#metrics", UNTRAINED)
    page.wait_for_selector("#before-after img")
    page.wait_for_function("document.querySelectorAll('#downloads a').length >= 2")

    names = [app_compare.default_models()[0], UNTRAINED]
    rows = table_rows(page)
    assert rows[0] == ["model", "psnr", "ssim", "colorfulness", "colorfulness_gap", "ms"]
    assert [row[0] for row in rows[1:]] == names
    for row in rows[1:]:  # a colour photo is its own reference: every metric is a number
        assert len(row) == 6 and all(NUMBER.match(cell) for cell in row[1:]), row
        assert 5 < float(row[1]) < 60 and 0 < float(row[2]) <= 1
    captions = page.locator("#gallery .caption-label, #gallery [class*=caption]").all_inner_texts()
    assert set(names) <= {caption.strip() for caption in captions}
    assert page.locator("#gallery img").count() >= 2
    notes = wait_text(page, "#notes", "against the uploaded photo itself")
    assert "451x300" in notes and "untrained" in notes.lower()
    downloads = page.inner_text("#downloads").replace("\n", "")
    assert all(f"{name}-colorized.png" in downloads for name in names), downloads
    assert page.locator("#before-after img").count() == 2

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "app-compare.png"
    page.wait_for_timeout(500)  # let images finish fading in
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("COLORIZERS_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs" / "app").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "app" / "screenshot.png")


def image_boxes(page, selector: str) -> list[dict]:
    """Each shown image: its rendered box, its natural size and the box of the block that clips it."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].map((img) => {
            const box = img.getBoundingClientRect();
            const clip = img.closest('.grid-wrap, .block').getBoundingClientRect();
            return {width: box.width, height: box.height, top: box.top, bottom: box.bottom,
                    natural_width: img.naturalWidth, natural_height: img.naturalHeight,
                    clip_top: clip.top, clip_bottom: clip.bottom};
        })""",
        selector,
    )


def test_one_tab_bar_and_one_model_shows_the_whole_photo(page):
    """The three tabs sit in one bar; with one model the gallery shows the whole photo at its aspect ratio."""
    assert page.locator("[role=tablist]").count() == 1
    assert [tab.strip() for tab in page.get_by_role("tab").all_inner_texts()] == [
        "Compare models",
        "Guide the colours",
        "Video",
    ]
    photo = app.CACHE_ROOT / "examples" / "chelsea.png"  # 451x300
    page.set_input_files("#input-image input[type=file]", str(photo))
    page.wait_for_selector("#input-image img")
    page.click("#colorize-button")
    wait_text(page, "#metrics", app_compare.default_models()[0])
    page.wait_for_function(
        "() => [...document.querySelectorAll('#gallery img')].some((img) => img.complete && img.naturalWidth)"
    )
    page.wait_for_timeout(500)  # layout settles once the image is decoded
    (shown,) = image_boxes(page, "#gallery img")
    assert (shown["natural_width"], shown["natural_height"]) == (451, 300)
    aspect, expected = shown["width"] / shown["height"], 451 / 300
    assert abs(aspect / expected - 1) < 0.03, shown  # not a square crop: the box has the photo's shape
    assert shown["width"] > 300, shown  # and fills its column
    assert shown["top"] >= shown["clip_top"] - 1 and shown["bottom"] <= shown["clip_bottom"] + 1, shown  # not cut
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-one-model.png"), full_page=True)


def test_errors_show_and_typed_model_with_reference_gives_inf(page):
    gray = app.CACHE_ROOT / "examples" / "coffee-black-and-white.png"
    page.set_input_files("#input-image input[type=file]", str(gray))
    page.wait_for_selector("#input-image img")

    page.click("#models input")
    page.keyboard.type("no-such-model")
    page.keyboard.press("Enter")
    page.click("h1")
    page.click("#colorize-button")
    page.get_by_text("Unknown model 'no-such-model'").first.wait_for()

    page.click("#models .remove-all")  # clear the list, then type an id by hand
    page.click("#models input")
    page.keyboard.type("test/zero-ab")
    page.keyboard.press("Enter")
    page.click("h1")
    page.click("#reference-accordion button")
    page.set_input_files("#reference-image input[type=file]", str(gray))
    page.wait_for_selector("#reference-image img")
    page.click("#colorize-button")

    wait_text(page, "#metrics", "test/zero-ab")
    rows = table_rows(page)
    assert rows[1][:3] == ["test/zero-ab", "inf", "1"]
    wait_text(page, "#notes", "separate colour reference")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-reference-inf.png"), full_page=True)


def test_example_with_a_colour_reference(page):
    page.get_by_role("button", name="coffee, b&w + colour reference").click()
    page.wait_for_selector("#input-image img")
    page.click("#colorize-button")
    page.wait_for_function("document.querySelectorAll('#metrics [role=row]').length >= 2")
    page.wait_for_selector("#before-after img")
    row = table_rows(page)[1]
    assert row[0] == app_compare.default_models()[0] and all(NUMBER.match(cell) for cell in row[1:]), row
    notes = wait_text(page, "#notes", "separate colour reference")
    assert "600x400" in notes


def hue_degrees(rgb: np.ndarray) -> np.ndarray:
    lab = skimage_color.rgb2lab(rgb)
    return np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360


def test_guide_click_adds_a_hint_and_the_picked_colour_spreads_around_it(page, tmp_path):
    """A hint placed by a click, recoloured with the picker, paints its neighbourhood in the picked hue."""
    photo = tmp_path / "gray.png"  # a plain gray gradient: nothing in it suggests blue
    ramp = np.linspace(90, 170, 320, dtype=np.float32)[None, :].repeat(240, axis=0)
    Image.fromarray(ramp.astype(np.uint8)).save(photo)
    page.get_by_role("tab", name="Guide the colours").click()
    page.set_input_files("#guide-image input[type=file]", str(photo))
    shown = page.locator("#guide-image img")
    shown.wait_for()
    box = shown.bounding_box()
    shown.click(position={"x": box["width"] * 0.4, "y": box["height"] * 0.5})  # place a hint (default red)
    page.locator("#guide-result img").wait_for()
    wait_text(page, "#guide-hints", "#c0392b")
    first = page.get_attribute("#guide-result img", "src")

    page.click("#guide-colour button.dialog-button")  # pick blue for the hint just placed
    hex_input = page.locator("#guide-colour input[type=text]")
    hex_input.fill("#1f5fe0")
    hex_input.press("Enter")
    page.mouse.click(5, 5)  # close the picker
    wait_text(page, "#guide-hints", "#1f5fe0")
    page.wait_for_function(
        "src => document.querySelector('#guide-result img')?.src && document.querySelector('#guide-result img').src"
        " !== src",
        arg=first,
    )

    cells = [cell.strip() for cell in page.locator("#guide-hints [role=row]").nth(1).inner_text().split("\n")]
    x, y = (int(float(value)) for value in cells[:2])
    scale = min(1, box["width"] / 320, box["height"] / 240)  # shown centred, shrunk to fit (object-fit: scale-down)
    expected_x = (box["width"] * 0.4 - (box["width"] - 320 * scale) / 2) / scale
    expected_y = (box["height"] * 0.5 - (box["height"] - 240 * scale) / 2) / scale
    assert abs(x - expected_x) <= 3 and abs(y - expected_y) <= 3, (cells, expected_x, expected_y)  # photo pixels
    result = page.request.get(page.get_attribute("#guide-result img", "src")).body()
    rgb = np.asarray(Image.open(io.BytesIO(result)).convert("RGB"), dtype=np.float64) / 255
    assert rgb.shape == (240, 320, 3)
    around = rgb[y - 3 : y + 4, x - 3 : x + 4]
    picked = hue_degrees(np.array([[[0x1F, 0x5F, 0xE0]]], dtype=np.float64) / 255)[0, 0]
    gap = np.abs((hue_degrees(around) - picked + 180) % 360 - 180)
    chroma = np.hypot(*skimage_color.rgb2lab(around)[..., 1:].transpose(2, 0, 1))
    assert np.median(gap) < 20 and np.median(chroma) > 15, (np.median(gap), np.median(chroma))
    far = rgb[:20, -20:]  # a corner far from the hint stays far less blue than the hint's neighbourhood
    assert np.hypot(*skimage_color.rgb2lab(far)[..., 1:].transpose(2, 0, 1)).mean() < np.median(chroma)

    def markers() -> list[dict]:
        return page.evaluate(
            """() => [...document.querySelectorAll('#guide-image .hint-marker')].map((dot) => {
                const box = dot.getBoundingClientRect();
                return {text: dot.textContent, x: box.x + box.width / 2, y: box.y + box.height / 2,
                        colour: getComputedStyle(dot).backgroundColor};
            })"""
        )

    def wait_markers(count: int) -> list[dict]:
        page.wait_for_function(f"document.querySelectorAll('#guide-image .hint-marker').length === {count}")
        return markers()

    def rgb_css(hex_code: str) -> str:
        return "rgb({}, {}, {})".format(*(int(hex_code[i : i + 2], 16) for i in (1, 3, 5)))

    # a numbered dot in the hint's colour where the photo was clicked
    box = shown.bounding_box()  # page coordinates now
    (dot,) = wait_markers(1)
    click = (box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    assert dot["text"] == "1" and dot["colour"] == rgb_css("#1f5fe0"), dot
    assert abs(dot["x"] - click[0]) <= 3 * max(1, 1 / scale) and abs(dot["y"] - click[1]) <= 3 * max(1, 1 / scale)

    # the model's suggestions at the click are swatches: coloured blocks, one click picks one
    swatches = page.locator("#guide-swatches .swatch")
    swatches.first.wait_for()
    colours = page.evaluate(
        """() => [...document.querySelectorAll('#guide-swatches .swatch')].map(
            (swatch) => [swatch.dataset.hex, getComputedStyle(swatch.querySelector('.swatch-colour')).backgroundColor])"""
    )
    assert len(colours) >= 2 and all(css == rgb_css(hex_code) for hex_code, css in colours), colours

    shown.click(position={"x": box["width"] * 0.75, "y": box["height"] * 0.3})  # a second hint: a second dot
    first, second = wait_markers(2)
    assert (first["text"], second["text"]) == ("1", "2")
    assert abs(second["x"] - (box["x"] + box["width"] * 0.75)) <= 3 * max(1, 1 / scale)
    picked = swatches.first.get_attribute("data-hex")
    swatches.first.click()  # recolours the last hint, its dot too
    wait_text(page, "#guide-hints", picked)
    page.wait_for_function(
        "css => getComputedStyle(document.querySelectorAll('#guide-image .hint-marker')[1]).backgroundColor === css",
        arg=rgb_css(picked),
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-guide.png"), full_page=True)

    page.click("#guide-undo")  # remove the last hint: its dot goes
    (left,) = wait_markers(1)
    assert left["text"] == "1" and left["colour"] == rgb_css("#1f5fe0")
    page.click("#guide-clear")
    wait_markers(0)
