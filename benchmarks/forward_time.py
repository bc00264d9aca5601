"""Parameter count and CPU forward time of every preset at its full (faithful) size.

    python benchmarks/forward_time.py [--size 256] [--threads 2] [--repeats 5]

Prints a Markdown table: median wall time of `model(pixel_values)` on a 1x1xSxS input under
`torch.inference_mode`, after one warm-up pass.
"""

import argparse
import statistics
import time

import torch

import colorizers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=None, help="presets (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {args.threads} threads, input 1x1x{args.size}x{args.size}\n")
    print("| preset | parameters | forward ms (median) |")
    print("|---|---:|---:|")
    for name in args.models or colorizers.list_models():
        torch.manual_seed(0)
        model = colorizers.create_model(name).eval()
        pixel_values = torch.rand(1, 1, args.size, args.size) * 2 - 1
        times = []
        with torch.inference_mode():
            model(pixel_values=pixel_values)
            for _ in range(args.repeats):
                start = time.perf_counter()
                model(pixel_values=pixel_values)
                times.append((time.perf_counter() - start) * 1e3)
        parameters = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {parameters / 1e6:.2f}M | {statistics.median(times):.1f} |")


if __name__ == "__main__":
    main()
