"""Inference speed on this CPU: end-to-end latency of ``colorize()``, where the time goes, batch
throughput, and how close the model runs to the machine's measured compute limit.

    python benchmarks/latency.py [--models unet resnet18] [--threads 2] [--runs 20] [--bf16]

Per model it prints:
* p50 / p90 end-to-end latency of ``colorize()`` on a 768x512 photo (``--runs`` runs after a warm-up); with
  ``--bf16`` also under bf16 autocast (``colorize(..., autocast=torch.bfloat16)``, the model in channels_last),
  and how far its colours move from float32's (mean absolute difference in RGB levels);
* the split of one call: decode to L, resize to the working size, model, ab upsampling (guided or
  bilinear, as the model's processor is set) and the Lab -> RGB conversion (timed separately, same
  functions as the pipeline);
* batch throughput on 256x256 images (``--batch`` per forward pass);
* the model's GFLOPs at 256x256 (torch's FLOP counter), the GFLOP/s it reaches, and the GEMM
  GFLOP/s this CPU reaches on a large float32 matrix product, as the practical ceiling.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import colorizers
from colorizers.color import denormalize_ab, lightness_ab_to_rgb_uint8
from colorizers.image_processing_colorizer import guided_upsample, image_to_lightness, resize_plane, working_size

KODIM = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eval" / "kodak24" / "kodim23.png"


def photo_768x512() -> Image.Image:
    """A real 768x512 photo: kodim23 when ../shared is there, else scikit-image's astronaut."""
    if KODIM.is_file():
        return Image.open(KODIM).convert("RGB")
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((768, 512), Image.Resampling.LANCZOS)


def timed(function, runs: int) -> list[float]:
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def gemm_gflops(size: int = 2048, runs: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = min(timed(lambda: a @ b, runs))
    return 2 * size**3 / (best / 1e3) / 1e9


def model_gflops(model, size: int = 256) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(pixel_values=torch.zeros(1, 1, size, size))
    return counter.get_total_flops() / 1e9


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="*",
        default=None,
        help="presets, folders or Hub ids (default: presets with weights, else the default)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--bf16", action="store_true", help="also time colorize() under bf16 autocast")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    photo = photo_768x512()
    models = args.models or colorizers.list_models(with_weights=True) or [colorizers.DEFAULT_MODEL]
    peak = gemm_gflops()
    print(
        f"torch {torch.__version__}, {args.threads} threads; photo {photo.width}x{photo.height}; "
        f"GEMM (2048x2048 float32): {peak:.1f} GFLOP/s\n"
    )

    rows, splits = [], []
    for name in models:
        model = colorizers.load_model(name)
        processor = colorizers.load_processor(model)
        latency = timed(lambda: colorizers.colorize(photo, model, processor=processor), args.runs)
        if args.bf16:
            reference = np.asarray(colorizers.colorize(photo, model, processor=processor), np.float64)
            fast = model.to(memory_format=torch.channels_last)

            def bf16_call(fast=fast):
                return colorizers.colorize(photo, fast, processor=processor, autocast=torch.bfloat16)

            bf16_latency = timed(bf16_call, args.runs)
            difference = float(np.abs(np.asarray(bf16_call(), np.float64) - reference).mean())
            print(
                f"{name}: fp32 p50 {percentile(latency, 50):.1f} ms, bf16 p50 {percentile(bf16_latency, 50):.1f} ms; "
                f"bf16 colours differ from fp32's by {difference:.2f} RGB levels on average",
                flush=True,
            )
            model = model.to(memory_format=torch.contiguous_format)

        # one call, stage by stage
        lightness = image_to_lightness(photo)
        size = working_size(*lightness.shape, processor.size)
        inputs = processor.preprocess_lightness([lightness], size=processor.size)
        with torch.inference_mode():
            ab = colorizers.predicted_ab(model(pixel_values=inputs["pixel_values"]))[0].numpy()
        stages = {
            "decode to L": timed(lambda: image_to_lightness(photo), args.runs),
            "resize L": timed(lambda: processor.preprocess_lightness([lightness], size=processor.size), args.runs),
        }
        with torch.inference_mode():
            stages["model"] = timed(lambda: model(pixel_values=inputs["pixel_values"]), args.runs)

        def upsample():  # as post_process_colorization does it: guided (edge_aware) or bilinear
            if processor.edge_aware and (ab.shape[1] < lightness.shape[0] or ab.shape[2] < lightness.shape[1]):
                return guided_upsample(
                    denormalize_ab(ab), lightness, radius=processor.guided_radius, eps=processor.guided_eps
                )
            return tuple(denormalize_ab(resize_plane(p, *lightness.shape)) for p in ab)

        stages["upsample ab"] = timed(upsample, args.runs)
        a, b = upsample()
        stages["Lab -> RGB"] = timed(lambda: lightness_ab_to_rgb_uint8(lightness, a, b), args.runs)
        splits.append((name, size, {k: statistics.median(v) for k, v in stages.items()}))

        # batch throughput at 256x256
        batch = [photo.resize((256, 256))] * args.batch
        start = time.perf_counter()
        colorizers.colorize(
            batch, model, processor=processor, size={"height": 256, "width": 256}, batch_size=args.batch
        )
        throughput = args.batch / (time.perf_counter() - start)

        flops = model_gflops(model)
        with torch.inference_mode():
            x = torch.zeros(1, 1, 256, 256)
            forward_ms = statistics.median(timed(lambda: model(pixel_values=x), max(3, args.runs // 4)))
        achieved = flops / (forward_ms / 1e3)
        rows.append((name, percentile(latency, 50), percentile(latency, 90), throughput, flops, forward_ms, achieved))

    print(
        "| model | p50 ms | p90 ms | batch images/s at 256x256 | GFLOPs at 256x256 | forward ms at 256x256 | GFLOP/s | % of GEMM |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, p50, p90, throughput, flops, forward_ms, achieved in rows:
        print(
            f"| {name} | {p50:.1f} | {p90:.1f} | {throughput:.1f} | {flops:.2f} | {forward_ms:.1f} | {achieved:.1f} | {100 * achieved / peak:.0f}% |"
        )
    print()
    names = list(splits[0][2])
    print("| model (working size) | " + " | ".join(f"{n} ms" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for name, size, stages in splits:
        print(f"| {name} ({size[1]}x{size[0]}) | " + " | ".join(f"{stages[n]:.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
