"""Erased images for the SE (ErasingConfig): a category's surroundings without it, or its object
without the part the CAM found.

In a share of the SE's training images one labelled category's region is filled with the mean colour
(0 after normalisation, the fill the SE also judges in stage 2) and its label removed or kept. The
region comes from the CAM's stored maps: the first-round maps a WSSS method already has, no ground
truth."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .data.transforms import TrainImages, sample_generator
from .errors import SlamsError
from .maps import load_maps


class CamRegions:
    """regions(index) -> {category: H x W bool}, where its stored CAM (already divided by its max)
    is above `threshold`, for the categories of the image's label."""

    def __init__(self, maps_dir: Path, names: list[str], threshold: float):
        self.maps_dir, self.names, self.threshold = Path(maps_dir), names, threshold

    def __call__(self, index: int) -> dict[int, np.ndarray]:
        path = self.maps_dir / f"{self.names[index]}.npz"
        if not path.is_file():
            raise SlamsError(f"{path} is missing: semantic_encoder.erasing needs the CAM's maps of every "
                             "training image (train_network stores them before the SE trains)")
        maps, classes = load_maps(path)
        return {int(k): m > self.threshold for k, m in zip(classes, maps)}


class ErasedImages(TrainImages):
    """The SE's training images; in a share `rate` of them one labelled category, drawn at random, is
    erased where `regions(index)[k]` (over the whole image, before augmentation) says, and label k
    removed (or kept: `keep_label`). The region follows the image through the same rescale, flip and
    crop."""

    def __init__(self, split, train, seed: int, masked_input, rate: float, regions,
                 keep_label: bool = False):
        super().__init__(split, train, seed, masked_input)
        self.rate, self.regions, self.keep_label = rate, regions, keep_label

    def __getitem__(self, index: int):
        image, valid, labels, index = super().__getitem__(index)
        draw = sample_generator(self.seed + 7919, self.epoch, index)     # its own stream
        if labels.sum() == 0 or torch.rand(1, generator=draw).item() >= self.rate:
            return image, valid, labels, index
        present = torch.nonzero(labels).flatten() + 1
        k = int(present[torch.randint(len(present), (1,), generator=draw)])
        region = self.regions(index).get(k)
        if region is None:
            return image, valid, labels, index
        if not self.keep_label:
            labels = labels.clone()
            labels[k - 1] = 0
        return image.masked_fill(self.moved(index, region.astype(np.int64)) == 1, 0.0), valid, labels, index
