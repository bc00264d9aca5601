import numpy as np
import pytest
from PIL import Image

from colorizers.image_io import ImageReadError, read_image


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
        (lambda p: Image.new("L", (300, 300)).save(p), "300x300 is 0.1 megapixels, above the limit of 0.08 megapixels"),
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
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
