"""Video colorization with ground truth: per-frame vs temporally stabilized, and end-to-end speed.

    python benchmarks/video.py [--model resnet18] [--frames 40] [--fps-frames 90] [--skip-speed]

No public film can be downloaded here, so the clips are made from colour photos (kodak24 and cbsd68
under ../shared/data/eval) with known motion: slow pans, a zoom, a pan with a hard cut, and an object
moving over a background. The true colour of every frame is known, and so is where every pixel was in
the previous frame. Per clip it prints

* PSNR (dB, RGB uint8, mean over frames) of the colorized frames against the true colour frames;
* flicker: the mean ab change (CIELAB units, Euclidean) between consecutive frames after motion
  compensation with the known motion (pixels visible in both frames; none across the cut), on the
  colour the colorizer gives each pixel (its ab at full resolution, before the 8-bit RGB rounding);
* the same measured on the 8-bit RGB output frames ("8-bit flicker"), next to that of the true frames:
  there 8-bit rounding (ab of dark pixels swings with one RGB level) and the resampling of fine colour
  detail add a floor of about the size of the model's own flicker, the same for every method;
* per-frame (``stabilize=False``) vs stabilized, and the flicker ratio stabilized / per-frame.

Then the speed of ``colorize_video`` end to end (decode, model, stabilization, encode; the model
loaded beforehand) on 640x480 and 1280x720 H.264 clips with an AAC track, in frames per second.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

import colorizers
from colorizers.color import AB_SCALE, rgb_to_lab, rgb_to_lightness
from colorizers.evaluation.metrics import psnr
from colorizers.video.colorize import FrameColorizer, colorize_video, join_lightness_ab

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eval"
WIDTH, HEIGHT = 320, 240


def load(name: str, data: Path) -> np.ndarray:
    folder = "kodak24" if name.startswith("kodim") else "cbsd68"
    path = next((data / folder).glob(f"{name}.*"))
    return np.asarray(Image.open(path).convert("RGB"))


def scale_to(image: np.ndarray, height: int) -> np.ndarray:
    width = round(image.shape[1] * height / image.shape[0])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def affine(scale: float = 1.0, dx: float = 0.0, dy: float = 0.0, center=(0.0, 0.0)) -> np.ndarray:
    """World -> frame: scale about ``center`` (world pixels) then shift by (dx, dy)."""
    cx, cy = center
    return np.array([[scale, 0, dx + cx * (1 - scale)], [0, scale, dy + cy * (1 - scale)]], np.float64)


@dataclass
class Layer:
    image: np.ndarray  # world RGB
    matrices: list[np.ndarray]  # per frame, world -> frame
    mask: np.ndarray | None = None  # world-sized bool: the object's shape (None: opaque background)


@dataclass
class Clip:
    name: str
    shots: list[list[Layer]]  # each shot: layers back to front; frames of a shot follow each other


def render(layers: list[Layer], index: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``index`` of a shot (RGB) and which layer each pixel shows."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    owner = np.full((HEIGHT, WIDTH), -1, np.int8)
    for number, layer in enumerate(layers):
        matrix = layer.matrices[index]
        pixels = cv2.warpAffine(
            layer.image, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
        )
        mask = np.ones(layer.image.shape[:2], np.uint8) if layer.mask is None else layer.mask.astype(np.uint8)
        covered = cv2.warpAffine(mask, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_NEAREST) > 0
        frame[covered], owner[covered] = pixels[covered], number
    return frame, owner


def correspondence(layers: list[Layer], index: int, owner_now: np.ndarray, owner_before: np.ndarray):
    """For frame ``index`` of a shot: where each pixel was in frame ``index - 1`` and which are valid."""
    map_x = np.zeros((HEIGHT, WIDTH), np.float32)
    map_y = np.zeros((HEIGHT, WIDTH), np.float32)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    for number, layer in enumerate(layers):
        now = np.vstack([layer.matrices[index], [0, 0, 1]])
        before = np.vstack([layer.matrices[index - 1], [0, 0, 1]])
        motion = (before @ np.linalg.inv(now))[:2]
        selected = owner_now == number
        map_x[selected] = (motion[0, 0] * xs + motion[0, 1] * ys + motion[0, 2])[selected]
        map_y[selected] = (motion[1, 0] * xs + motion[1, 1] * ys + motion[1, 2])[selected]
    inside = (map_x >= 1) & (map_x <= WIDTH - 2) & (map_y >= 1) & (map_y <= HEIGHT - 2)
    there = owner_before[
        np.clip(np.round(map_y), 0, HEIGHT - 1).astype(int), np.clip(np.round(map_x), 0, WIDTH - 1).astype(int)
    ]
    valid = inside & (there == owner_now)
    valid = cv2.erode(valid.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # off the object's edges
    return map_x, map_y, valid


def clips(data: Path, frames: int) -> list[Clip]:
    steps = np.arange(frames)
    pan = scale_to(load("kodim05", data), 256)
    zoom = scale_to(load("kodim23", data), 240)
    cut_a, cut_b = scale_to(load("kodim15", data), 256), scale_to(load("102061", data), 256)
    back, thing = scale_to(load("kodim03", data), 256), scale_to(load("kodim20", data), 160)
    diagonal = scale_to(load("108082", data), 300)
    ellipse = np.zeros(thing.shape[:2], np.uint8)
    cv2.ellipse(ellipse, (thing.shape[1] // 2, thing.shape[0] // 2), (55, 40), 0, 0, 360, 1, -1)
    zoom_center = (zoom.shape[1] / 2, zoom.shape[0] / 2)
    half = frames // 2
    return [
        Clip("pan (kodim05)", [[Layer(pan, [affine(dx=-1.5 * t) for t in steps])]]),
        Clip(
            "zoom (kodim23)",
            [
                [
                    Layer(
                        zoom,
                        [
                            affine(1 + 0.3 * t / frames, dx=-(zoom.shape[1] - WIDTH) / 2, center=zoom_center)
                            for t in steps
                        ],
                    )
                ]
            ],
        ),
        Clip(
            "pan + cut (kodim15, 102061)",
            [
                [Layer(cut_a, [affine(dx=-1.2 * t) for t in steps[:half]])],
                [Layer(cut_b, [affine(dx=-10 - 1.2 * (t - half)) for t in steps[half:]])],
            ],
        ),
        Clip(
            "moving object (kodim03 + kodim20)",
            [
                [
                    Layer(back, [affine(dx=-0.5 * t) for t in steps]),
                    Layer(thing, [affine(dx=-60 + 6 * t, dy=-20 + 2 * t) for t in steps], ellipse.astype(bool)),
                ]
            ],
        ),
        Clip(
            "diagonal pan + zoom (108082)",
            [[Layer(diagonal, [affine(1 + 0.15 * t / frames, dx=-1.0 * t, dy=-0.7 * t) for t in steps])]],
        ),
    ]


def flicker(frames_ab: list[np.ndarray], motions: list) -> float:
    """Mean ab change along the known motion between consecutive frames (within shots)."""
    total, count = 0.0, 0
    for index, motion in enumerate(motions):
        if motion is None:
            continue
        map_x, map_y, valid = motion
        previous = cv2.remap(frames_ab[index - 1], map_x, map_y, cv2.INTER_LINEAR)
        change = np.linalg.norm(frames_ab[index] - previous, axis=-1)[valid]
        total, count = total + float(change.sum()), count + change.size
    return total / max(count, 1)


def full_size_ab(ab: np.ndarray) -> np.ndarray:
    """Normalised ab at the working size -> CIELAB ab (H, W, 2) at the frame's size, as the output gets it."""
    return cv2.resize(np.moveaxis(ab, 0, -1), (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR) * np.float32(AB_SCALE)


def evaluate_clip(clip: Clip, model, batch_size: int) -> dict:
    truth, motions = [], []
    for layers in clip.shots:
        owners = []
        for index in range(len(layers[0].matrices)):
            frame, owner = render(layers, index)
            truth.append(frame)
            motions.append(correspondence(layers, index, owner, owners[-1]) if index else None)
            owners.append(owner)
    lightness = [rgb_to_lightness(frame) for frame in truth]
    row = {
        "clip": clip.name,
        "frames": len(truth),
        "truth_flicker": flicker([rgb_to_lab(f)[..., 1:] for f in truth], motions),
    }
    for mode, stabilize in (("per_frame", False), ("stabilized", True)):
        colorizer = FrameColorizer(model, stabilize=stabilize)
        predicted = []
        for start in range(0, len(lightness), batch_size):
            predicted += colorizer(lightness[start : start + batch_size])
        outputs = [join_lightness_ab(light, ab) for light, ab in zip(lightness, predicted)]
        row[f"{mode}_psnr"] = float(np.mean([psnr(out, true) for out, true in zip(outputs, truth)]))
        row[f"{mode}_flicker"] = flicker([full_size_ab(ab) for ab in predicted], motions)
        row[f"{mode}_flicker_rgb"] = flicker([rgb_to_lab(out)[..., 1:] for out in outputs], motions)
        if stabilize:
            row["cuts_found"] = colorizer.cuts
    row["ratio"] = row["stabilized_flicker"] / row["per_frame_flicker"]
    return row


def make_test_video(path: Path, width: int, height: int, frames: int, data: Path, fps: int = 30) -> None:
    """An H.264 + AAC clip: a slow pan over kodim05 at ``width`` x ``height``."""
    world = scale_to(load("kodim05", data), int(height * 1.1))
    if world.shape[1] < width + frames:
        world = cv2.resize(world, (width + frames, world.shape[0]))
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "18"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=44100)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(world[:height, index : index + width]), format="rgb24"
            )
            frame.pts = index
            container.mux(video.encode(frame))
        samples = int(44100 * frames / fps)
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 44100)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = np.zeros((2, 1024), np.float32)
            part = tone[start : start + 1024]
            chunk[:, : part.size] = part
            audio_frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            audio_frame.sample_rate, audio_frame.pts = 44100, start
            container.mux(audio.encode(audio_frame))
        container.mux(audio.encode(None))
        container.mux(video.encode(None))


def speed(model, data: Path, frames: int, sizes=((640, 480), (1280, 720))) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        make_test_video(Path(folder) / "warm-up.mp4", 160, 120, 8, data)  # one-time costs (model, tables) first
        colorize_video(Path(folder) / "warm-up.mp4", Path(folder) / "warm-up-out.mp4", model)
        for width, height in sizes:
            source = Path(folder) / f"pan-{width}x{height}.mp4"
            make_test_video(source, width, height, frames, data)
            for stabilize in (True, False):
                result = colorize_video(source, Path(folder) / "out.mp4", model, stabilize=stabilize, overwrite=True)
                rows.append(
                    {
                        "size": f"{width}x{height}",
                        "stabilize": stabilize,
                        "frames": result.frames,
                        "fps": result.frames_per_second,
                        "codec": result.codec,
                        "audio": result.audio,
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default=colorizers.DEFAULT_MODEL, help="preset, folder or Hub id (default: %(default)s)"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding kodak24/ and cbsd68/")
    parser.add_argument("--frames", type=int, default=40, help="frames per synthetic clip (default 40)")
    parser.add_argument("--fps-frames", type=int, default=90, help="frames of the speed clips (default 90)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--skip-quality", action="store_true", help="only the speed measurement")
    parser.add_argument("--skip-speed", action="store_true", help="only the quality table")
    args = parser.parse_args()
    model = colorizers.load_model(args.model).eval()
    print(f"model: {args.model}; clips {WIDTH}x{HEIGHT}, {args.frames} frames each\n")
    if not args.skip_quality:
        print(
            "| clip | frames | PSNR per-frame | PSNR stabilized | flicker per-frame | flicker stabilized | ratio "
            "| 8-bit flicker per-frame | 8-bit flicker stabilized | 8-bit flicker of the truth | shots found |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows = []
        for clip in clips(args.data, args.frames):
            row = evaluate_clip(clip, model, args.batch_size)
            rows.append(row)
            print(
                f"| {row['clip']} | {row['frames']} | {row['per_frame_psnr']:.2f} | {row['stabilized_psnr']:.2f} | "
                f"{row['per_frame_flicker']:.3f} | {row['stabilized_flicker']:.3f} | {row['ratio']:.2f} | "
                f"{row['per_frame_flicker_rgb']:.3f} | {row['stabilized_flicker_rgb']:.3f} | {row['truth_flicker']:.3f} | "
                f"{row['cuts_found']} |",
                flush=True,
            )
        mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0] if key not in ("clip", "frames")}
        print(
            f"| **mean** | | {mean['per_frame_psnr']:.2f} | {mean['stabilized_psnr']:.2f} | {mean['per_frame_flicker']:.3f} | "
            f"{mean['stabilized_flicker']:.3f} | {mean['ratio']:.2f} | {mean['per_frame_flicker_rgb']:.3f} | "
            f"{mean['stabilized_flicker_rgb']:.3f} | {mean['truth_flicker']:.3f} | |"
        )
        print(
            f"worst flicker ratio {max(row['ratio'] for row in rows):.2f}; worst PSNR change "
            f"{min(row['stabilized_psnr'] - row['per_frame_psnr'] for row in rows):+.2f} dB\n"
        )
    if not args.skip_speed:
        print(f"end to end (decode, model, stabilization, encode), {args.fps_frames}-frame H.264 + AAC clips:")
        for row in speed(model, args.data, args.fps_frames):
            print(
                f"  {row['size']:>9}  {'stabilized' if row['stabilize'] else 'per-frame ':10}  {row['fps']:6.1f} frames/s  "
                f"({row['frames']} frames; {row['codec']}; audio {row['audio']})",
                flush=True,
            )


if __name__ == "__main__":
    main()
