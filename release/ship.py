#!/usr/bin/env python
"""Ship a finished training run as a preset's bundled weights: ``colorizers/pretrained/<preset>/``.

    python release/ship.py runs/zoo/resnet18 resnet18 [--working-size 128]
    python release/ship.py runs/chroma chroma --working-size 128 --set default_temperature=0.5 --set prior_correction=0.3

The folder gets what ``from_pretrained`` and the model card need, and nothing else: config.json,
half-precision model.safetensors (loaded back as float32 on CPU), preprocessor_config.json (with
the working size colour is predicted at), eval_results.json (the run's own validation scores and
command), sample_grid.png, loss_curves.png and the model card (README.md). ``release/leaderboard.py`` then adds the scores on
the evaluation sets and renders the card.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

import colorizers
from colorizers.hub.eval_results import RESULTS_FILE, read_eval_results, write_eval_results
from colorizers.hub.model_card import write_model_card
from colorizers.model_io.checksums import record_checksums
from colorizers.registry import PRETRAINED_DIR
from colorizers.training.reporting import read_records, validation_curve

COPIED = (RESULTS_FILE, "sample_grid.png", "loss_curves.png")


def ship(
    run: Path, preset: str, working_size: int | None, dtype: torch.dtype = torch.float16, settings: dict | None = None
) -> Path:
    """``settings`` are config values chosen after training (decoding defaults such as the temperature),
    validated by the config class before anything is written."""
    colorizers.get_preset(preset)  # a clear error for an unknown name
    if not (run / "model.safetensors").is_file() or not (run / RESULTS_FILE).is_file():
        raise SystemExit(f"error: {run} is not a finished training run (model.safetensors and eval_results.json)")
    model = colorizers.load_model(str(run))
    processor = colorizers.load_processor(model)
    if working_size is not None:  # the config's image_size documents the default working size too
        processor.size = {"longest_edge": working_size}
        model.config.image_size = working_size
    for key, value in (settings or {}).items():
        if not hasattr(model.config, key):
            raise SystemExit(f"error: --set {key}: the {model.config.model_type} config has no such field")
        setattr(model.config, key, value)
    model.config.validate()
    target = PRETRAINED_DIR / preset
    staging = target.with_name(f".{preset}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    model.to(dtype).save_pretrained(staging, max_shard_size="16MB")  # no tracked file over 20 MB
    processor.save_pretrained(staging)
    for name in COPIED:
        if (run / name).is_file():
            shutil.copy2(run / name, staging / name)
    results = read_eval_results(staging)
    training = results.setdefault("training", {})
    training["preset"] = preset
    if not training.get("curve") and (run / "metrics.jsonl").is_file():  # a run from before train.py recorded it
        training["curve"] = validation_curve(read_records(run / "metrics.jsonl"), int(training.get("batch_size") or 0))
    write_eval_results(staging, results)
    write_model_card(staging, preset_name=preset)
    record_checksums(staging)  # loading the preset verifies its weights against these
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished train.py output folder")
    parser.add_argument("preset", help="the preset these weights belong to")
    parser.add_argument(
        "--working-size", type=int, default=None, help="longest edge colour is predicted at (default: the run's)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value chosen after training, JSON-decoded (e.g. default_temperature=0.5)",
    )
    args = parser.parse_args()
    settings = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            settings[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            raise SystemExit(
                f"error: --set {item!r}: the value must be JSON (a number, true/false, a quoted string)"
            ) from None
    target = ship(args.run, args.preset, args.working_size, settings=settings)
    size = sum(path.stat().st_size for path in target.iterdir()) / 1e6
    print(f"shipped {args.run} as {args.preset}: {target} ({size:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
