"""Training data: the grayscale filter, samples, split selection and image classes (``colorizers.training.data``
and ``colorizers.training.samples``)."""

import datasets
import numpy as np
import pytest
import torch
from conftest import colour_image
from PIL import Image

import colorizers
from colorizers.training.data import (
    ClassLabels,
    DataError,
    class_labels,
    filter_images,
    load_training_splits,
)
from colorizers.training.samples import (
    Augmentation,
    ColorizationDataset,
    StreamingColorizationDataset,
    collate,
    colorization_dataset,
    make_sample,
)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """20 colour images and 2 grayscale ones."""
    rng = np.random.default_rng(5)
    root = tmp_path_factory.mktemp("photos")
    for index in range(20):
        colour_image(rng).save(root / f"colour{index:02d}.png")
    for index in range(2):
        Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).save(root / f"gray{index}.png")
    return root


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Parquet shards with train and validation splits and a ClassLabel column."""
    rng = np.random.default_rng(6)
    root = tmp_path_factory.mktemp("parquet")
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=["cat", "dog", "eel"])}
    )
    for split, count in (("train", 9), ("validation", 3)):
        rows = {"image": [colour_image(rng) for _ in range(count)], "label": [index % 3 for index in range(count)]}
        datasets.Dataset.from_dict(rows, features=features).to_parquet(str(root / f"{split}-00000.parquet"))
    return root


def _names(split) -> list[str]:
    return sorted(row["image"]["path"].rsplit("/", 1)[-1] for row in split)


def test_gray_filter_drops_gray_and_corrupt_keeps_colour():
    rng = np.random.default_rng(2)
    images = [colour_image(rng) for _ in range(4)]
    images += [
        Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).convert("RGB") for _ in range(2)
    ]  # gray stored as RGB
    images += [Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8))]  # mode L
    dataset = datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()}))
    rows = dataset.cast_column("image", datasets.Image(decode=False)).to_list()
    rows.append({"image": {"bytes": b"garbage", "path": None}})
    dataset = datasets.Dataset.from_list(rows, features=datasets.Features({"image": datasets.Image(decode=False)}))
    kept, counts = filter_images(dataset, "image")
    assert counts == {"kept": 4, "grayscale": 3, "undecodable": 1}
    assert len(kept) == 4
    _, unfiltered = filter_images(dataset, "image", max_share=None)
    assert unfiltered == {"kept": 7, "grayscale": 0, "undecodable": 1}


def test_samples_are_reproducible_and_augmented():
    image = colour_image(np.random.default_rng(3), 40, 50)
    augmentation = Augmentation(max_rotation=10)
    a = make_sample(image, 16, augmentation=augmentation, rng=np.random.default_rng(7))
    b = make_sample(image, 16, augmentation=augmentation, rng=np.random.default_rng(7))
    c = make_sample(image, 16, augmentation=augmentation, rng=np.random.default_rng(8))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["labels"], c["labels"])
    assert (
        a["pixel_values"].shape == (1, 16, 16) and a["labels"].shape == (2, 16, 16) and a["rgb"].shape == (3, 16, 16)
    )
    # the three views describe the same pixels
    lab = colorizers.rgb_to_lab_torch(a["rgb"][None])[0]
    torch.testing.assert_close(colorizers.normalize_lightness(lab[:1]), a["pixel_values"], atol=1e-4, rtol=0)
    torch.testing.assert_close(colorizers.normalize_ab(lab[1:]), a["labels"], atol=1e-4, rtol=0)


def test_held_out_validation_is_a_seeded_share_of_the_training_images(photos, tmp_path):
    splits = load_training_splits(str(photos), validation_split_percentage=25, seed=3, cache_dir=str(tmp_path))
    assert len(splits.train) + len(splits.validation) == 20  # the gray images filtered on each side
    assert len(splits.validation) in (5, 6)  # 25% of 22 held out before filtering
    assert not set(_names(splits.train)) & set(_names(splits.validation))
    assert splits.validation_name == f"{photos.name} (25% held out)"
    assert splits.image_column == splits.validation_image_column == "image"
    assert sum(splits.counts["train"].values()) + sum(splits.counts["validation"].values()) == 22
    assert splits.counts["train"]["grayscale"] + splits.counts["validation"]["grayscale"] == 2
    again = load_training_splits(str(photos), validation_split_percentage=25, seed=3, cache_dir=str(tmp_path))
    assert _names(again.validation) == _names(splits.validation)
    other = load_training_splits(str(photos), validation_split_percentage=25, seed=4, cache_dir=str(tmp_path))
    assert _names(other.validation) != _names(splits.validation)


def test_a_validation_folder_and_sample_limits(photos, tmp_path):
    validation = tmp_path / "val"
    validation.mkdir()
    for index in range(4):
        colour_image(np.random.default_rng(index), 20, 20).save(validation / f"v{index}.png")
    splits = load_training_splits(
        str(photos),
        validation_data_dir=str(validation),
        max_train_samples=6,
        max_eval_samples=3,
        cache_dir=str(tmp_path / "cache"),
    )
    assert sum(splits.counts["train"].values()) == 6 and len(splits.validation) == 3
    assert splits.validation_name == "val"
    assert _names(splits.validation) == ["v0.png", "v1.png", "v2.png"]
    unfiltered = load_training_splits(
        str(photos), validation_data_dir=str(validation), max_share=None, cache_dir=str(tmp_path / "cache")
    )
    assert len(unfiltered.train) == 22 and unfiltered.counts["train"]["grayscale"] == 0


def test_the_datas_own_validation_split_wins_over_holding_out(labelled, tmp_path):
    splits = load_training_splits(str(labelled), validation_split_percentage=50, cache_dir=str(tmp_path))
    assert (len(splits.train), len(splits.validation)) == (9, 3)
    assert splits.validation_name == f"{labelled.name} validation"


@pytest.mark.parametrize(
    "options,message",
    [
        ({"validation_split_percentage": 0}, r"holding out 0% of photos\w* leaves no validation images"),
        ({"streaming": True}, r"^a streamed dataset needs a validation split or a validation folder"),
        ({"dataset_name": "x"}, r"^give exactly one of a data folder or a Hub dataset name$"),
        ({"image_column": "picture"}, r"^no column 'picture' in the dataset; columns: image$"),
    ],
)
def test_splits_that_cannot_be_made_raise_data_error(options, message, photos, tmp_path):
    with pytest.raises(DataError, match=message):
        load_training_splits(str(photos), cache_dir=str(tmp_path), **options)


def test_a_side_without_colour_images_raises_data_error(tmp_path):
    gray = tmp_path / "gray"
    gray.mkdir()
    for index in range(4):
        Image.fromarray(np.full((20, 20), 40 * index, np.uint8)).save(gray / f"g{index}.png")
    with pytest.raises(
        DataError, match=r"^no decodable colour image in .*gray \(\{'kept': 0, 'grayscale': \d, 'undecodable': 0\}\)$"
    ):
        load_training_splits(str(gray), validation_split_percentage=50, cache_dir=str(tmp_path / "cache"))


def test_class_labels_of_a_class_label_column_and_of_plain_values():
    features = datasets.Features({"label": datasets.ClassLabel(names=["zebra", "ant"])})
    typed = class_labels(datasets.Dataset.from_dict({"label": [0, 1, 1]}, features=features), "label")
    assert typed == ClassLabels("label", ["zebra", "ant"], {0: 0, 1: 1})
    plain = class_labels(datasets.Dataset.from_dict({"kind": ["owl", "bee", "owl"]}), "kind")
    assert plain.names == ["bee", "owl"] and plain.index == {"bee": 0, "owl": 1}
    assert plain.dataset_options(datasets.Dataset.from_dict({"kind": ["bee"]})) == {
        "label_column": "kind",
        "class_index": plain.index,
    }
    assert plain.dataset_options(datasets.Dataset.from_dict({"other": [1]})) == {}
    with pytest.raises(DataError, match=r"^no column 'label' in the dataset; columns: kind$"):
        class_labels(datasets.Dataset.from_dict({"kind": ["owl"]}), "label")


def test_colorization_dataset_carries_class_labels_and_picks_its_kind(labelled, tmp_path):
    splits = load_training_splits(str(labelled), cache_dir=str(tmp_path))
    classes = class_labels(splits.train, "label")
    dataset = colorization_dataset(
        splits.train, splits.image_column, 16, augmentation=None, **classes.dataset_options(splits.train)
    )
    assert isinstance(dataset, ColorizationDataset)
    batch = collate([dataset[index] for index in range(3)])
    assert batch["class_labels"].tolist() == [0, 1, 2]
    assert batch["pixel_values"].shape == (3, 1, 16, 16) and batch["labels"].shape == (3, 2, 16, 16)
    streamed = colorization_dataset(splits.train.to_iterable_dataset(), splits.image_column, 16, augmentation=None)
    assert isinstance(streamed, StreamingColorizationDataset)
    assert torch.equal(next(iter(streamed))["labels"], dataset[0]["labels"])


def _shards_with_faults(root, rng):
    """A train shard with one corrupt image among colour ones, a truncated train shard, a validation shard."""
    features = datasets.Features({"image": datasets.Image(decode=False)})
    rows = [{"image": {"bytes": _png_bytes(colour_image(rng)), "path": None}} for _ in range(6)]
    rows.append({"image": {"bytes": b"\x89PNG\r\n\x1a\n this is not really a png", "path": None}})
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(root / "train-00000.parquet"))
    datasets.Dataset.from_list(rows[:3], features=features).to_parquet(str(root / "train-00001.parquet"))
    whole = (root / "train-00001.parquet").read_bytes()
    (root / "train-00001.parquet").write_bytes(whole[: len(whole) // 2])  # cut short: no footer
    datasets.Dataset.from_list(rows[:3], features=features).to_parquet(str(root / "validation-00000.parquet"))


def _png_bytes(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_truncated_shard_and_a_corrupt_image_are_skipped_counted_and_reported(tmp_path, caplog):
    _shards_with_faults(tmp_path, np.random.default_rng(9))
    with caplog.at_level("WARNING", logger="colorizers.training.data"):
        splits = load_training_splits(str(tmp_path), cache_dir=str(tmp_path / "cache"))
    assert splits.counts["train"] == {"kept": 6, "grayscale": 0, "undecodable": 1}
    (skipped,) = splits.skipped_files
    assert skipped["file"].endswith("train-00001.parquet") and "not a readable parquet file" in skipped["reason"]
    assert "skipped" in caplog.text and "train-00001.parquet" in caplog.text
    assert len(splits.train) == 6 and len(splits.validation) == 3


def test_a_split_without_a_readable_shard_is_a_data_error(tmp_path):
    _shards_with_faults(tmp_path, np.random.default_rng(9))
    (tmp_path / "train-00000.parquet").write_bytes(b"PAR1 nothing else")
    with pytest.raises(DataError, match="no readable parquet shard for the train split"):
        load_training_splits(str(tmp_path), cache_dir=str(tmp_path / "cache"))
