"""Choose a distribution model's decoding defaults (working size, prior correction, temperature) on
tuning sets, never on the sets the results are reported on.

    python release/choose_decoding.py --model runs/chroma [--sizes 64 128 192] \
        [--corrections 0 0.25 0.5 0.75] [--temperatures 1.0 0.7 0.5 0.38]

Tuning sets: the full-resolution colour photos bundled with scikit-image, matplotlib and gradio
(``colour_quality.tuning_photos``, like users' photos) and 300 tiny-imagenet validation images from index 5000 on (disjoint
from the 500 the reports use). Each setting is scored with ``benchmarks/colour_quality.py``'s code.

The rule (the same weighing of accuracy and colour as the default-model rule of
``release/leaderboard.py``): maximise, averaged over the tuning sets,

    S = (PSNR - PSNR of the gray prediction) + min(CF, reference CF) / 10

(10 points of colourfulness weigh like 1 dB), among settings that beat the gray prediction's PSNR on
every tuning set and whose vivid end (temperature 0.2, the app's "vividness 100") is more colourful
than the setting itself, so that lowering the temperature does make colours more vivid. The working
size is scored on the photos alone (tiny-imagenet images are colorized at their own 64 px).

The vivid end (temperature 0.2) decodes with ``vivid_prior_correction`` (models whose config has it): the
correction among ``--corrections`` whose vivid colourfulness is closest to the references' on the tuning sets
(mean absolute gap over the two), so that the most vivid setting paints photos about as colourful as photos are.
Prints the table, the choice and the ``release/ship.py --set`` arguments that apply it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch

import colorizers
from colorizers.evaluation.evaluate import gray_prediction

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # the scoring the benchmarks print
from colour_quality import ROOT, load_set, merit, score_set  # noqa: E402

VIVID_TEMPERATURE = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 192])
    parser.add_argument("--corrections", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.7, 0.5, 0.38])
    parser.add_argument("--tiny-images", type=int, default=300)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    photos = load_set("photos", Path(args.data_root), 0)
    tiny = load_set("tiny-tune", Path(args.data_root), args.tiny_images)
    gray = {"photos": score_set(photos, gray_prediction), "tiny": score_set(tiny, gray_prediction)}
    model = colorizers.load_model(args.model)

    def run(references, size, correction, temperature):
        model.config.prior_correction = correction
        if hasattr(model.config, "vivid_prior_correction"):  # at T 0.2 the correction is the vivid end's
            model.config.vivid_prior_correction = correction if temperature == VIVID_TEMPERATURE else 0.0
        return score_set(references, lambda r: colorizers.colorize(r, model, size=size, temperature=temperature))

    rows = []
    print("| size | correction | T | photos dPSNR | photos CF | tiny dPSNR | tiny CF | vivid CF (photos/tiny) | S |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    tiny_scores, vivid_cache = {}, {}
    for size, correction, temperature in itertools.product(args.sizes, args.corrections, args.temperatures):
        on_photos = run(photos, size, correction, temperature)
        if (correction, temperature) not in tiny_scores:  # 64 px images: the working size does not apply
            tiny_scores[(correction, temperature)] = run(tiny, None, correction, temperature)
        on_tiny = tiny_scores[(correction, temperature)]
        if (size, correction) not in vivid_cache:
            if (None, correction) not in vivid_cache:
                vivid_cache[(None, correction)] = run(tiny, None, correction, VIVID_TEMPERATURE)["colorfulness"]
            vivid_cache[(size, correction)] = (
                run(photos, size, correction, VIVID_TEMPERATURE)["colorfulness"],
                vivid_cache[(None, correction)],
            )
        vivid = vivid_cache[(size, correction)]
        score = (merit(on_photos, gray["photos"]) + merit(on_tiny, gray["tiny"])) / 2
        eligible = (
            on_photos["psnr"] > gray["photos"]["psnr"]
            and on_tiny["psnr"] > gray["tiny"]["psnr"]
            and vivid[0] > on_photos["colorfulness"]
            and vivid[1] > on_tiny["colorfulness"]
        )
        rows.append(
            {
                "size": size,
                "correction": correction,
                "temperature": temperature,
                "photos": on_photos,
                "tiny": on_tiny,
                "vivid_cf": vivid,
                "score": score,
                "eligible": eligible,
            }
        )
        print(
            f"| {size} | {correction:g} | {temperature:g} | {on_photos['psnr'] - gray['photos']['psnr']:+.2f} "
            f"| {on_photos['colorfulness']:.1f} | {on_tiny['psnr'] - gray['tiny']['psnr']:+.2f} | {on_tiny['colorfulness']:.1f} "
            f"| {vivid[0]:.1f} / {vivid[1]:.1f} | {score:.3f}{'' if eligible else ' (not eligible)'} |",
            flush=True,
        )
    pool = [r for r in rows if r["eligible"]] or rows
    best = max(pool, key=lambda r: r["score"])
    vivid_setting = ""
    if hasattr(model.config, "vivid_prior_correction"):
        references = (rows[0]["photos"]["reference_colorfulness"], rows[0]["tiny"]["reference_colorfulness"])

        def vivid_gap(correction: float) -> float:
            vivid = vivid_cache[(best["size"], correction)]
            return (abs(vivid[0] - references[0]) + abs(vivid[1] - references[1])) / 2

        vivid_correction = min(args.corrections, key=vivid_gap)
        best["vivid_prior_correction"] = vivid_correction
        print(
            "\nvivid end (T 0.2): "
            + ", ".join(
                f"correction {c:g}: CF {vivid_cache[(best['size'], c)][0]:.1f} / {vivid_cache[(best['size'], c)][1]:.1f}"
                for c in args.corrections
            )
            + f" (references {references[0]:.1f} / {references[1]:.1f}): {vivid_correction:g}"
        )
        vivid_setting = f" --set vivid_prior_correction={vivid_correction:g}"
    print(
        f"\nchosen: working size {best['size']}, prior_correction {best['correction']:g}, temperature "
        f"{best['temperature']:g} (S = {best['score']:.3f}{'' if best['eligible'] else '; no setting met every condition'})"
    )
    print(
        f"ship with: --working-size {best['size']} --set prior_correction={best['correction']:g} "
        f"--set default_temperature={best['temperature']:g}{vivid_setting}"
    )
    if args.output:
        Path(args.output).write_text(json.dumps({"gray": gray, "rows": rows, "chosen": best}, indent=1, default=str))


if __name__ == "__main__":
    main()
