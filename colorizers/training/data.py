"""Training and evaluation data: any image collection -> filtered train and validation splits, through `datasets`.

Sources: a folder of images (nested folders welcome), a folder of parquet shards (such as
tiny-imagenet), or a Hub dataset. Images that cannot be decoded, and images with no colour (the
seed-1 grayscale filter), are dropped once, up front, and counted. ``load_training_splits`` makes
every choice a training run makes about its data (which split validates, how much is held out,
how many images are used), ``load_splits`` with a run's ``DataOptions``; ``class_labels`` turns a
label column into the semantic head's classes.

The samples themselves (crops, augmentation, torch datasets, loaders) are in ``colorizers.training.samples``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from colorizers.evaluation.metrics import GRAY_CHROMA_THRESHOLD, GRAY_MAX_SHARE, neutral_share
from colorizers.image_io import has_image_suffix
from colorizers.training.samples import (  # re-exported: samples were part of this module
    IGNORE_LABEL,
    Augmentation,
    ColorizationDataset,
    StreamingColorizationDataset,
    collate,
    colorization_dataset,
    decode_image,
    make_sample,
)

if TYPE_CHECKING:
    from colorizers.training.options import DataOptions

logger = logging.getLogger(__name__)

STATUS_KEEP, STATUS_GRAY, STATUS_CORRUPT = 0, 1, 2
STATUS_NAMES = {STATUS_KEEP: "kept", STATUS_GRAY: "grayscale", STATUS_CORRUPT: "undecodable"}

__all__ = [
    "IGNORE_LABEL",
    "Augmentation",
    "ClassLabels",
    "ColorizationDataset",
    "DataError",
    "StreamingColorizationDataset",
    "TrainingSplits",
    "class_index",
    "class_labels",
    "class_names",
    "collate",
    "colorization_dataset",
    "decode_image",
    "filter_images",
    "find_image_column",
    "image_status",
    "load_image_dataset",
    "load_splits",
    "load_training_splits",
    "make_sample",
    "unreadable_parquet",
]


class DataError(ValueError):
    """The data cannot be used; the message says which location and why."""


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def load_image_dataset(
    data_dir: str | None = None,
    *,
    dataset_name: str | None = None,
    dataset_config: str | None = None,
    streaming: bool = False,
    cache_dir: str | None = None,
    skipped_files: list | None = None,
):
    """A `datasets.DatasetDict` (or `IterableDatasetDict`) from a folder or a Hub dataset.

    Folders holding ``*.parquet`` files load as parquet shards (``train-*`` / ``validation-*``
    naming gives the splits); any other folder loads as an image folder, labels dropped. Shards that
    cannot be read (truncated, not parquet) are left out, logged and added to ``skipped_files`` as
    ``{"file", "reason"}``; a split left without a readable shard is a `DataError`.
    """
    import datasets

    if (data_dir is None) == (dataset_name is None):
        raise DataError("give exactly one of a data folder or a Hub dataset name")
    if dataset_name is not None:
        return datasets.load_dataset(dataset_name, dataset_config, streaming=streaming, cache_dir=cache_dir)

    folder = Path(data_dir).expanduser()
    if not folder.exists():
        raise DataError(f"data folder {folder} does not exist")
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    files = [path for path in folder.rglob("*") if path.is_file() and not path.name.startswith(".")]
    if not files:
        raise DataError(f"data folder {folder} is empty")
    parquet = sorted(path for path in files if path.suffix == ".parquet")
    if parquet:
        splits: dict[str, list[str]] = {}
        for path in parquet:
            split = "validation" if path.name.startswith(("validation", "valid", "val-", "test")) else "train"
            reason = unreadable_parquet(path)
            if reason:
                logger.warning("skipped %s: %s", path, reason)
                if skipped_files is not None:
                    skipped_files.append({"file": str(path), "reason": reason})
                splits.setdefault(split, [])
                continue
            splits.setdefault(split, []).append(str(path))
        empty = [split for split, files in splits.items() if not files]
        if empty:
            raise DataError(f"no readable parquet shard for the {' and '.join(empty)} split in {folder}")
        return datasets.load_dataset("parquet", data_files=splits, streaming=streaming, cache_dir=cache_dir)
    if not any(has_image_suffix(path) for path in files):
        raise DataError(f"data folder {folder} holds no image files (looked for {len(files)} files recursively)")
    return datasets.load_dataset(
        "imagefolder", data_dir=str(folder), drop_labels=True, streaming=streaming, cache_dir=cache_dir
    )


def unreadable_parquet(path: Path) -> str | None:
    """Why a parquet file cannot be read (truncated, not parquet, data beyond its end), or None."""
    import pyarrow.parquet as pq

    try:
        size = path.stat().st_size
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            for column in range(metadata.num_columns):
                chunk = metadata.row_group(group).column(column)
                start = min(
                    offset for offset in (chunk.dictionary_page_offset, chunk.data_page_offset) if offset is not None
                )
                if start + chunk.total_compressed_size > size:
                    return "truncated: its data runs past the end of the file"
    except Exception as error:  # noqa: BLE001 - pyarrow's ArrowInvalid, OSError...
        return f"not a readable parquet file ({str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__})"
    return None


def find_image_column(dataset, image_column: str | None = None) -> str:
    """The column holding images: ``image_column`` if given (checked), else the first Image feature."""
    import datasets

    features = dataset.features or {}
    if image_column is not None:
        if image_column not in features:
            raise DataError(f"no column {image_column!r} in the dataset; columns: {', '.join(features)}")
        return image_column
    for name, feature in features.items():
        if isinstance(feature, datasets.Image):
            return name
    raise DataError(f"no image column found among {', '.join(features) or 'no columns'}; name one")


def image_status(
    value: Any, *, chroma_threshold: float = GRAY_CHROMA_THRESHOLD, max_share: float | None = GRAY_MAX_SHARE
) -> int:
    """STATUS_KEEP, STATUS_GRAY (no colour: dropped by the grayscale filter) or STATUS_CORRUPT."""
    try:
        image = decode_image(value)
        if max_share is not None and neutral_share(image, chroma_threshold=chroma_threshold) > max_share:
            return STATUS_GRAY
        return STATUS_KEEP
    except Exception:  # noqa: BLE001 - any decoder failure means the same thing: skip the file
        return STATUS_CORRUPT


def filter_images(
    dataset,
    image_column: str,
    *,
    chroma_threshold: float = GRAY_CHROMA_THRESHOLD,
    max_share: float | None = GRAY_MAX_SHARE,
    num_proc: int | None = None,
):
    """Drop undecodable and (unless ``max_share`` is None) grayscale images.

    Returns ``(dataset, counts)`` with counts per status name. Map-style datasets are scanned once
    (and `datasets` caches the scan); streaming datasets filter lazily and report no counts.
    """
    import datasets

    dataset = dataset.cast_column(image_column, datasets.Image(decode=False))

    def add_status(batch):
        return {
            "_status": [
                image_status(value, chroma_threshold=chroma_threshold, max_share=max_share)
                for value in batch[image_column]
            ]
        }

    if isinstance(dataset, datasets.IterableDataset):
        dataset = dataset.map(add_status, batched=True).filter(lambda row: row["_status"] == STATUS_KEEP)
        return dataset.remove_columns("_status"), {}
    dataset = dataset.map(add_status, batched=True, batch_size=256, num_proc=num_proc, desc="checking images")
    counts = Counter(dataset["_status"])
    kept = dataset.filter(lambda status: status == STATUS_KEEP, input_columns="_status", num_proc=num_proc)
    return kept.remove_columns("_status"), {STATUS_NAMES[k]: counts.get(k, 0) for k in STATUS_NAMES}


def class_names(dataset, label_column: str) -> list[str]:
    """The sorted class names of ``label_column`` (a `ClassLabel`'s names, else the distinct values as text)."""
    import datasets

    features = dataset.features or {}
    if label_column not in features:
        raise DataError(f"no column {label_column!r} in the dataset; columns: {', '.join(features) or 'none'}")
    feature = features[label_column]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    if isinstance(dataset, datasets.IterableDataset):
        raise DataError(f"label column {label_column!r} of a streamed dataset must be a ClassLabel feature")
    values = dataset.unique(label_column)
    if not values:
        raise DataError(f"column {label_column!r} is empty")
    if len(values) > 100_000:
        raise DataError(f"column {label_column!r} has {len(values)} distinct values: not a class label")
    return sorted(str(value) for value in values if value is not None)


def class_index(dataset, label_column: str, names: list[str]) -> dict[Any, int]:
    """Raw column value -> class index of ``names`` (values not in ``names`` map to nothing)."""
    import datasets

    feature = (dataset.features or {}).get(label_column)
    if isinstance(feature, datasets.ClassLabel):
        positions = {name: index for index, name in enumerate(names)}
        return {value: positions[name] for value, name in enumerate(feature.names) if name in positions}
    positions = {name: index for index, name in enumerate(names)}
    values = dataset.unique(label_column) if not isinstance(dataset, datasets.IterableDataset) else []
    mapping = {value: positions[str(value)] for value in values if str(value) in positions}
    return mapping or positions


@dataclass(frozen=True)
class ClassLabels:
    """The image classes of a label column: what the semantic head predicts."""

    column: str
    names: list[str]
    index: dict[Any, int]  # raw column value -> position in ``names``

    def dataset_options(self, dataset) -> dict[str, Any]:
        """Keyword arguments of ``colorization_dataset`` for ``dataset`` (none when it lacks the column)."""
        if self.column not in (dataset.features or {}):
            return {}
        return {"label_column": self.column, "class_index": self.index}


def class_labels(dataset, label_column: str) -> ClassLabels:
    """The classes of ``label_column`` in ``dataset`` (a training split), sorted, with their index."""
    names = class_names(dataset, label_column)
    return ClassLabels(label_column, names, class_index(dataset, label_column, names))


# ----------------------------------------------------------------------------------------------
# Splits: what a training run trains and validates on
# ----------------------------------------------------------------------------------------------


@dataclass
class TrainingSplits:
    """Filtered training and validation splits, and how they came to be."""

    train: Any  # datasets.Dataset, or IterableDataset when streamed
    validation: Any
    image_column: str
    validation_image_column: str
    validation_name: str  # how results name the validation set
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # per side: images kept/dropped ({} when streamed)
    skipped_files: list[dict[str, str]] = field(default_factory=list)  # data files left out: {"file", "reason"}


def _first(dataset, count: int | None):
    """The first ``count`` rows (all of them for ``None`` or 0), of a dataset or a stream."""
    import datasets

    if not count:
        return dataset
    if isinstance(dataset, datasets.IterableDataset):
        return dataset.take(count)
    return dataset.select(range(min(count, len(dataset))))


def load_training_splits(
    data_dir: str | None = None,
    *,
    dataset_name: str | None = None,
    dataset_config: str | None = None,
    image_column: str | None = None,
    validation_data_dir: str | None = None,
    validation_split_percentage: float = 5.0,
    streaming: bool = False,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    seed: int = 0,
    chroma_threshold: float = GRAY_CHROMA_THRESHOLD,
    max_share: float | None = GRAY_MAX_SHARE,
    num_proc: int | None = None,
    cache_dir: str | None = None,
) -> TrainingSplits:
    """Load a folder or Hub dataset and choose what trains and what validates.

    The validation set is, in this order: ``validation_data_dir``, the data's own ``validation``
    split, or ``validation_split_percentage`` percent of the training split held out (seeded by
    ``seed``; not possible for a stream). Each side is then cut to its first ``max_*_samples``
    images and filtered (undecodable and, unless ``max_share`` is None, grayscale images dropped).
    Raises `DataError` when a side is left without a usable image.
    """
    skipped_files: list[dict[str, str]] = []
    raw = load_image_dataset(
        data_dir,
        dataset_name=dataset_name,
        dataset_config=dataset_config,
        streaming=streaming,
        cache_dir=cache_dir,
        skipped_files=skipped_files,
    )
    train = raw["train"] if "train" in raw else raw[next(iter(raw))]
    image_column = find_image_column(train, image_column)
    source = Path(data_dir or dataset_name).name
    if validation_data_dir:
        validation_raw = load_image_dataset(validation_data_dir, cache_dir=cache_dir, skipped_files=skipped_files)
        validation = validation_raw[next(iter(validation_raw))]
        validation_name = Path(validation_data_dir).name
    elif "validation" in raw:
        validation, validation_name = raw["validation"], f"{source} validation"
    elif streaming:
        raise DataError("a streamed dataset needs a validation split or a validation folder (--validation_data_dir)")
    elif not 0 < validation_split_percentage < 100:
        raise DataError(
            f"holding out {validation_split_percentage:g}% of {source} leaves no validation images; "
            "give a validation folder (--validation_data_dir)"
        )
    else:
        parts = train.train_test_split(test_size=validation_split_percentage / 100, seed=seed)
        train, validation = parts["train"], parts["test"]
        validation_name = f"{source} ({validation_split_percentage:g}% held out)"
    train, validation = _first(train, max_train_samples), _first(validation, max_eval_samples)
    # a separate validation folder has its own columns; a split of the same data shares the training one's
    validation_column = find_image_column(validation, image_column if validation_data_dir is None else None)
    options = {"chroma_threshold": chroma_threshold, "max_share": max_share, "num_proc": num_proc}
    train, train_counts = filter_images(train, image_column, **options)
    validation, validation_counts = filter_images(validation, validation_column, **options)
    if train_counts and train_counts["kept"] == 0:
        raise DataError(f"no decodable colour image in {data_dir or dataset_name} ({train_counts})")
    if validation_counts and validation_counts["kept"] == 0:
        raise DataError(f"no decodable colour image in the validation data ({validation_counts})")
    counts = {"train": train_counts, "validation": validation_counts}
    return TrainingSplits(train, validation, image_column, validation_column, validation_name, counts, skipped_files)


def load_splits(options: DataOptions, *, seed: int = 0) -> TrainingSplits:
    """``load_training_splits`` with a run's data options (``seed`` draws the held-out share)."""
    return load_training_splits(
        options.train_data_dir,
        dataset_name=options.dataset_name,
        dataset_config=options.dataset_config,
        image_column=options.image_column,
        validation_data_dir=options.validation_data_dir,
        validation_split_percentage=options.validation_split_percentage,
        streaming=options.streaming,
        max_train_samples=options.max_train_samples,
        max_eval_samples=options.max_eval_samples,
        seed=seed,
        chroma_threshold=options.gray_chroma_threshold,
        max_share=options.max_gray_share,
        num_proc=options.preprocessing_num_workers,
        cache_dir=options.cache_dir,
    )
