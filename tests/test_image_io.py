import io

import numpy as np
import pytest
from PIL import Image

from colorizers.image_io import ImageReadError, read_image, save_image


def test_reads_first_frame_of_animations(tmp_path):
    frames = [Image.new("RGB", (12, 10), colour) for colour in ("red", "blue", "green")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    read = read_image(tmp_path / "anim.gif")
    assert read.image.size == (12, 10)
    assert read.notes == ["animated (3 frames): only the first frame was used"]
    red = np.asarray(read.image.convert("RGB"))[0, 0]
    assert red[0] > 200 and red[2] < 50


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda p: p.write_text("hello"), "not an image file PIL can read"),
        (lambda p: p.write_bytes(_png_bytes()[:60]), "truncated or corrupt"),
        (
            lambda p: Image.new("L", (300, 300)).save(p),
            "300x300 is 0.1 megapixels, above the limit of 0.08 megapixels",
        ),
    ],
)
def test_bad_files_are_named(tmp_path, make, reason):
    path = tmp_path / "x.png"
    make(path)
    with pytest.raises(ImageReadError, match=reason) as caught:
        read_image(path, max_pixels=80_000)
    assert caught.value.path == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "absent.png")


def _png_bytes():
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_save_image_writes_the_format_of_the_suffix_and_no_temporary_file(tmp_path, rng):
    pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    assert save_image(pixels, tmp_path / "deep" / "a.png") == tmp_path / "deep" / "a.png"  # folders are created
    save_image(Image.fromarray(pixels), tmp_path / "b.JPG")
    save_image(pixels, tmp_path / "c.unknown-suffix")
    with Image.open(tmp_path / "deep" / "a.png") as png, Image.open(tmp_path / "b.JPG") as jpeg:
        assert png.format == "PNG" and jpeg.format == "JPEG"
        np.testing.assert_array_equal(np.asarray(png), pixels)  # lossless
    with Image.open(tmp_path / "c.unknown-suffix") as other:
        assert other.format == "PNG"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.png", "b.JPG", "c.unknown-suffix"]


def test_save_image_writes_jpeg_at_quality_95_unless_told(tmp_path, rng):
    image = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    save_image(image, tmp_path / "default.jpg")
    save_image(image, tmp_path / "q50.jpg", quality=50)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    assert (tmp_path / "default.jpg").read_bytes() == buffer.getvalue()
    assert (tmp_path / "q50.jpg").stat().st_size < len(buffer.getvalue())


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.jpg"
    target.write_bytes(b"the previous result")
    with pytest.raises(OSError, match="cannot write mode RGBA as JPEG"):
        save_image(Image.new("RGBA", (8, 8)), target)
    assert target.read_bytes() == b"the previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]


def test_saved_files_get_the_usual_permissions(tmp_path):
    (tmp_path / "plain.txt").write_text("made by open()")
    save_image(Image.new("RGB", (8, 8)), tmp_path / "saved.png")
    assert (tmp_path / "saved.png").stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777
