"""PSNR against the number of colour hints (Zhang et al. 2017's protocol), on full-resolution photos.

    python benchmarks/hints.py --model runs/chroma [--sets kodak24 cbsd68] [--counts 0 1 2 5 10 20 50]

For every photo and hint count, hints are placed at random points (seeded per image and count) with
the photo's true colour there (the mean ab of the hint's disc, radius 1% of the longer side), the
photo is colorized with them through ``colorizers.colorize(..., hints=...)``, and scored on RGB uint8
(PSNR, the shared protocol). Prints a Markdown table and saves a plot (``--plot``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import colorizers
from colorizers.color import rgb_to_lab
from colorizers.evaluation.evaluate import gray_prediction, load_references
from colorizers.evaluation.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]


def true_colour_hints(reference: np.ndarray, count: int, seed: int) -> list[dict]:
    """``count`` hints at random points of ``reference`` (RGB uint8), each with the mean ab of its disc."""
    rng = np.random.default_rng(seed)
    height, width = reference.shape[:2]
    radius = 0.01 * max(height, width)
    lab = rgb_to_lab(reference)
    rows, columns = np.mgrid[0:height, 0:width]
    hints = []
    for _ in range(count):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        y0, y1 = max(0, int(y - radius)), min(height, int(y + radius) + 1)
        x0, x1 = max(0, int(x - radius)), min(width, int(x + radius) + 1)
        disc = (rows[y0:y1, x0:x1] - y) ** 2 + (columns[y0:y1, x0:x1] - x) ** 2 <= radius**2
        a, b = (float(lab[y0:y1, x0:x1, channel][disc].mean()) for channel in (1, 2))
        hints.append({"x": x, "y": y, "ab": [a, b], "radius": radius})
    return hints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a hint-capable model: preset, folder or Hub id")
    parser.add_argument("--sets", nargs="+", default=["kodak24", "cbsd68"])
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 1, 2, 5, 10, 20, 50])
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plot", default=str(ROOT / "docs" / "hints" / "psnr_vs_hints.png"))
    parser.add_argument("--output", default=None, help="write the table as JSON here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    model = colorizers.load_model(args.model)
    table: dict[str, dict[int, float]] = {}
    gray: dict[str, float] = {}
    for set_name in args.sets:
        references = load_references(Path(args.data_root) / "eval" / set_name).references
        gray[set_name] = float(np.mean([psnr(gray_prediction(r), r) for r in references.values()]))
        table[set_name] = {}
        for count in args.counts:
            scores = []
            for index, reference in enumerate(references.values()):
                hints = true_colour_hints(reference, count, seed=1000 * index + count)
                output = colorizers.colorize(reference, model, hints=hints or None, temperature=args.temperature)
                scores.append(psnr(np.asarray(output), reference))
            table[set_name][count] = float(np.mean(scores))
            print(f"{set_name}: {count} hints -> PSNR {table[set_name][count]:.2f} dB", flush=True)

    print("\n| hints | " + " | ".join(f"{s} PSNR (dB)" for s in args.sets) + " |")
    print("|---:|" + "---:|" * len(args.sets))
    print("| gray (no colour) | " + " | ".join(f"{gray[s]:.2f}" for s in args.sets) + " |")
    for count in args.counts:
        print(f"| {count} | " + " | ".join(f"{table[s][count]:.2f}" for s in args.sets) + " |")
    if args.output:
        Path(args.output).write_text(json.dumps({"model": args.model, "gray": gray, "psnr": table}, indent=1))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(6, 4))
        for set_name in args.sets:
            counts = list(table[set_name])
            axis.plot(counts, list(table[set_name].values()), "o-", label=set_name)
            axis.axhline(gray[set_name], linestyle="--", linewidth=1, color=axis.lines[-1].get_color(), alpha=0.6)
        axis.set_xscale("symlog", linthresh=1)
        axis.set_xlabel("random true-colour hints per photo")
        axis.set_ylabel("PSNR (dB); dashed: gray prediction")
        axis.set_title(f"{Path(args.model).name}: PSNR vs number of hints")
        axis.legend()
        figure.tight_layout()
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(args.plot, dpi=110)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
