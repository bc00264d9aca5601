"""Training samples: a stored image -> (L, ab, RGB) crops, as torch datasets and the data loaders of a run.

Augmentation is a pure function of (seed, epoch, sample index): any number of data-loader workers,
processes or a resume in the middle of an epoch reproduce exactly the same crops.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from colorizers.color import normalize_ab, normalize_lightness, rgb_to_lab
from colorizers.image_processing_colorizer import image_to_array

if TYPE_CHECKING:
    from colorizers.training.options import DataOptions

IGNORE_LABEL = -100  # a class label the semantic loss skips (unknown or unseen class)


def decode_image(value: Any) -> Image.Image:
    """A stored image (`datasets.Image(decode=False)` dict, path, bytes or PIL) -> loaded PIL image."""
    if isinstance(value, Image.Image):
        image = value
    elif isinstance(value, dict) and value.get("bytes"):
        image = Image.open(io.BytesIO(value["bytes"]))
    elif isinstance(value, dict) and value.get("path"):
        image = Image.open(value["path"])
    elif isinstance(value, (bytes, bytearray)):
        image = Image.open(io.BytesIO(value))
    elif isinstance(value, (str, Path)):
        image = Image.open(value)
    else:
        raise ValueError(f"cannot decode an image from {type(value).__name__}")
    image.load()
    return image


@dataclass(frozen=True)
class Augmentation:
    """Seed-5 style augmentation: random resized crop, horizontal flip, optional small rotation."""

    min_scale: float = 0.5  # smallest crop, as a share of the image area
    max_aspect_change: float = 4 / 3
    hflip: bool = True
    max_rotation: float = 0.0  # degrees


def _random_box(rng: np.random.Generator, width: int, height: int, aug: Augmentation) -> tuple[float, ...]:
    """A random crop box (left, top, right, bottom) of area share in [min_scale, 1]."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(aug.min_scale, 1.0)
        log_ratio = rng.uniform(-math.log(aug.max_aspect_change), math.log(aug.max_aspect_change))
        ratio = math.exp(log_ratio)
        crop_w, crop_h = math.sqrt(target * ratio), math.sqrt(target / ratio)
        if crop_w <= width and crop_h <= height:
            left = rng.uniform(0, width - crop_w)
            top = rng.uniform(0, height - crop_h)
            return (left, top, left + crop_w, top + crop_h)
    return _center_box(width, height)


def _center_box(width: int, height: int) -> tuple[float, ...]:
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


def _to_rgb_image(image: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB with the same rules as inference (EXIF, alpha on white, 16-bit)."""
    array = image_to_array(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    return Image.fromarray(array)


def make_sample(
    image: Image.Image,
    resolution: int,
    *,
    augmentation: Augmentation | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """One training/evaluation sample at ``resolution`` x ``resolution``.

    Without augmentation: the largest centred square, resized (deterministic, for evaluation).
    Returns ``pixel_values`` (1, R, R) normalised L, ``labels`` (2, R, R) normalised ab and ``rgb``
    (3, R, R) in [0, 1] (the target of models that predict RGB, and the metrics' reference).
    """
    image = _to_rgb_image(image)
    width, height = image.size
    if augmentation is None:
        box = _center_box(width, height)
    else:
        rng = rng if rng is not None else np.random.default_rng()
        if augmentation.max_rotation > 0:
            angle = rng.uniform(-augmentation.max_rotation, augmentation.max_rotation)
            image = image.rotate(angle, resample=Image.Resampling.BILINEAR)
            # keep the crop inside the region the rotation left free of empty corners
            theta = math.radians(abs(angle))
            shrink = 1.0 / (math.cos(theta) + math.sin(theta))
            inner_w, inner_h = width * shrink, height * shrink
            left, top, right, bottom = _random_box(rng, max(1, int(inner_w)), max(1, int(inner_h)), augmentation)
            offset_x, offset_y = (width - inner_w) / 2, (height - inner_h) / 2
            box = (left + offset_x, top + offset_y, right + offset_x, bottom + offset_y)
        else:
            box = _random_box(rng, width, height, augmentation)
        if augmentation.hflip and rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            box = (width - box[2], box[1], width - box[0], box[3])
    crop = np.asarray(image.resize((resolution, resolution), Image.Resampling.BICUBIC, box=box))
    lab = rgb_to_lab(crop)
    return {
        "pixel_values": torch.from_numpy(normalize_lightness(lab[..., 0])[None].astype(np.float32)),
        "labels": torch.from_numpy(np.ascontiguousarray(normalize_ab(lab[..., 1:]).transpose(2, 0, 1), np.float32)),
        "rgb": torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1), np.float32) / 255.0),
    }


class _LabelledSamples:
    """What both dataset classes share: their settings, and one row -> one (labelled) sample."""

    def __init__(
        self,
        dataset,
        image_column: str,
        resolution: int,
        *,
        augmentation: Augmentation | None,
        seed: int = 0,
        label_column: str | None = None,
        class_index: dict[Any, int] | None = None,
    ):
        self.dataset = dataset
        self.image_column = image_column
        self.resolution = resolution
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0
        self.label_column = label_column
        self.class_index = class_index or {}

    def _sample(self, row, image, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        sample = make_sample(image, self.resolution, augmentation=self.augmentation, rng=rng)
        if self.label_column is not None:
            sample["class_labels"] = torch.tensor(self.class_index.get(row[self.label_column], IGNORE_LABEL))
        return sample


class ColorizationDataset(_LabelledSamples, torch.utils.data.Dataset):
    """Map-style samples from a `datasets.Dataset` of (filtered) images.

    Each sample's augmentation draws from a generator seeded by (seed, epoch, index); call
    ``set_epoch`` at the start of every epoch.
    """

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = self.dataset[int(index)]
        image = decode_image(row[self.image_column])
        return self._sample(row, image, np.random.default_rng((self.seed, self.epoch, int(index))))


class StreamingColorizationDataset(_LabelledSamples, torch.utils.data.IterableDataset):
    """Samples from a streaming `datasets.IterableDataset`; undecodable items are skipped and counted."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skipped = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        dataset = self.dataset
        if worker is not None and worker.num_workers > 1:
            dataset = (
                dataset.shard(num_shards=worker.num_workers, index=worker.id) if hasattr(dataset, "shard") else dataset
            )
        for position, row in enumerate(dataset):
            try:
                image = decode_image(row[self.image_column])
            except Exception:  # noqa: BLE001 - any decoder failure means the same thing: skip the item
                self.skipped += 1
                continue
            rng = np.random.default_rng((self.seed, self.epoch, position, worker.id if worker else 0))
            yield self._sample(row, image, rng)


def colorization_dataset(dataset, image_column: str, resolution: int, **settings) -> _LabelledSamples:
    """The torch dataset of a `datasets` split: map-style for a `Dataset`, iterable for a stream.

    ``settings`` are the keyword-only ones of the dataset classes: ``augmentation``, ``seed``, ``label_column``
    and ``class_index``.
    """
    import datasets

    streamed = isinstance(dataset, datasets.IterableDataset)
    kind = StreamingColorizationDataset if streamed else ColorizationDataset
    return kind(dataset, image_column, resolution, **settings)


def collate(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([sample[key] for sample in samples]) for key in samples[0]}


def make_loaders(splits, options: DataOptions, *, resolution: int, seed: int = 0, classes=None):
    """The training dataset and the training and validation loaders of ``splits`` (a ``TrainingSplits``).

    Training crops are augmented as ``options`` says and shuffled by a generator seeded with ``seed``,
    in whole batches; validation crops are centred, in order. ``classes`` (a ``ClassLabels``) adds each
    image's class. Returns (train dataset, train loader, eval loader); raises `TrainingSetupError` when
    the training images are fewer than one batch.
    """
    from colorizers.training.checkpoints import ignore_stop_signals
    from colorizers.training.setup import TrainingSetupError

    augmentation = Augmentation(
        min_scale=options.random_min_scale, hflip=not options.no_hflip, max_rotation=options.max_rotation
    )
    train_dataset = colorization_dataset(
        splits.train,
        splits.image_column,
        resolution,
        augmentation=augmentation,
        seed=seed,
        **(classes.dataset_options(splits.train) if classes else {}),
    )
    eval_dataset = colorization_dataset(
        splits.validation,
        splits.validation_image_column,
        resolution,
        augmentation=None,
        seed=seed,
        **(classes.dataset_options(splits.validation) if classes else {}),
    )
    loader_options = {
        "collate_fn": collate,
        "num_workers": options.dataloader_num_workers,
        "pin_memory": torch.cuda.is_available(),
        "worker_init_fn": ignore_stop_signals,
    }
    train_loader = torch.utils.data.DataLoader(
        train_dataset,
        batch_size=options.train_batch_size,
        shuffle=not options.streaming,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
        **loader_options,
    )
    eval_loader = torch.utils.data.DataLoader(
        eval_dataset, batch_size=options.eval_batch_size, shuffle=False, **loader_options
    )
    if not options.streaming and len(train_loader) == 0:
        raise TrainingSetupError(
            f"{len(train_dataset)} training images is fewer than one batch of {options.train_batch_size} per process"
        )
    return train_dataset, train_loader, eval_loader
