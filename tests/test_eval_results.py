"""The schema of eval_results.json (colorizers.hub.eval_results): what training, shipping, the leaderboard
and the model cards read and write."""

import json
import math

import pytest
from conftest import tiny_model

import colorizers
from colorizers.hub.eval_results import (
    EvalResultsError,
    evaluation_entry,
    metrics_of,
    read_eval_results,
    replace_evaluations,
    validate_eval_results,
    write_eval_results,
)
from colorizers.hub.model_card import render_model_card
from colorizers.registry import PRETRAINED_DIR

SCORES = {"psnr": 23.4, "ssim": 0.93, "colorfulness": 14.2, "reference_colorfulness": 36.6, "colorfulness_gap": -22.4}


def test_round_trip_keeps_every_key_and_non_finite_scores(tmp_path):
    results = {
        "evaluations": [
            evaluation_entry("kodak24", {**SCORES, "psnr": math.inf}, split="test", num_images=24, size=256)
        ],
        "baselines": {"gray": {"dataset_name": "kodak24", "num_images": 24, **SCORES}},
        "training": {"command": "accelerate launch train/train.py --model unet", "steps": 3},
        "notes": "kept as written",
    }
    path = write_eval_results(tmp_path, results)
    assert path == tmp_path / "eval_results.json"
    assert read_eval_results(tmp_path) == results
    assert read_eval_results(tmp_path / "missing") is None
    assert list(results["evaluations"][0])[:5] == ["dataset_name", "dataset_type", "split", "num_images", "size"]


def test_new_metrics_flow_through_to_the_card(tmp_path):
    """Metrics are an open set: a new one (auc) is accepted, kept, and reported in the card's model-index."""
    entry = evaluation_entry("kodak24", {**SCORES, "auc": 0.81234, "auc_rebalanced": 0.7}, split="test", num_images=24)
    assert metrics_of(entry) == {**SCORES, "auc": 0.81234, "auc_rebalanced": 0.7}
    folder = tmp_path / "run"
    model = tiny_model("unet")
    model.save_pretrained(folder)
    colorizers.create_processor(model.config).save_pretrained(folder)
    write_eval_results(folder, {"evaluations": [entry]})
    indexed = {result.metric_type: result.metric_value for result in render_model_card(folder).data.eval_results}
    assert indexed == {"psnr": 23.4, "ssim": 0.93, "colorfulness": 14.2, "auc": 0.8123, "auc_rebalanced": 0.7}


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ([], "must hold a JSON object"),
        ({"evaluations": {"kodak24": {}}}, "'evaluations' must be a list of objects"),
        ({"evaluations": [{"psnr": 20.0}]}, "evaluation 0 names no dataset"),
        ({"evaluations": [{"dataset_name": "kodak24", "auc": "high"}]}, "metric 'auc' must be a number"),
        ({"evaluations": [{"dataset_name": "kodak24", "psnr": True}]}, "metric 'psnr' must be a number"),
        ({"evaluations": [{"dataset_name": "kodak24", "num_images": "24"}]}, "'num_images' must be a number"),
        ({"evaluations": [], "baselines": [1]}, "'baselines' must be an object"),
        ({"evaluations": [], "baselines": {"gray": {"psnr": "x"}}}, "baseline 'gray' 0: metric 'psnr'"),
        ({"training": "yesterday"}, "'training' must be an object"),
    ],
)
def test_invalid_results_are_refused_with_the_reason(tmp_path, results, message):
    with pytest.raises(EvalResultsError, match=message):
        validate_eval_results(results)
    with pytest.raises(EvalResultsError, match=message):
        write_eval_results(tmp_path, results)
    assert not (tmp_path / "eval_results.json").exists()
    (tmp_path / "eval_results.json").write_text(json.dumps(results))
    with pytest.raises(EvalResultsError, match=message):
        read_eval_results(tmp_path)


def test_replace_evaluations_keeps_other_sets():
    results = {"evaluations": [evaluation_entry(name, SCORES) for name in ("val", "kodak24")], "training": {}}
    new = evaluation_entry("kodak24", {**SCORES, "psnr": 30.0}, split="test")
    updated = replace_evaluations(results, [new])
    assert [item["dataset_name"] for item in updated["evaluations"]] == ["val", "kodak24"]
    assert updated["evaluations"][1]["psnr"] == 30.0 and results["evaluations"][1]["psnr"] == SCORES["psnr"]
    assert replace_evaluations(None, [new]) == {"evaluations": [new]}


@pytest.mark.parametrize("name", colorizers.list_models(with_weights=True))
def test_shipped_results_follow_the_schema(name):
    results = read_eval_results(PRETRAINED_DIR / name)
    assert results["evaluations"] and results["training"]["preset"] == name
