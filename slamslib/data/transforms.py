"""Training and inference tensors: ImageNet normalisation, a seeded rescale/flip/crop, a valid mask.

Augmentation draws from a generator seeded by (seed, epoch, image index), never from global state,
so a resumed run and a run on several processes see exactly the images an uninterrupted one-process
run sees. Image and valid mask move together through torchvision's transforms.v2."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2

from ..config import MaskedInputConfig, TrainConfig
from .voc import IGNORE

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 -> normalised 3 x H x W float (0 is the dataset's mean colour)."""
    x = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).float() / 255.0
    return (x - MEAN) / STD


def to_image(x: torch.Tensor) -> np.ndarray:
    """The inverse of to_tensor, for figures."""
    return ((x.detach().cpu().float() * STD + MEAN).clamp(0, 1).permute(1, 2, 0).numpy() * 255
            ).astype(np.uint8)


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 10_000_019 + index)


def augment(image: np.ndarray, train: TrainConfig, generator: torch.Generator,
            mask: np.ndarray | None = None):
    """Rescale by a random factor, flip half the time, crop (or pad) to crop_size at a random place.
    Returns the image and a valid mask (1 where pixels are real, 0 on padding), and, when a label
    `mask` is given, that mask moved with them (nearest, 255 on padding)."""
    if mask is not None and np.shape(mask) != np.shape(image)[:2]:   # never stretched to fit
        raise ValueError(f"a {np.shape(mask)} label mask cannot move with a {np.shape(image)[:2]} image")
    img = tv_tensors.Image(to_tensor(image))
    extra = [tv_tensors.Mask(torch.ones(1, *img.shape[-2:]))]
    if mask is not None:
        extra.append(tv_tensors.Mask(torch.from_numpy(np.asarray(mask, np.int64))[None]))
    low, high = train.scale_range
    scale = low + (high - low) * torch.rand(1, generator=generator).item()
    size = [max(1, round(img.shape[-2] * scale)), max(1, round(img.shape[-1] * scale))]
    img = v2.functional.resize(img, size, antialias=True)
    extra = [v2.functional.resize(m, size) for m in extra]     # masks: nearest
    if train.flip and torch.rand(1, generator=generator).item() < 0.5:
        img, extra = v2.functional.horizontal_flip(img), [v2.functional.horizontal_flip(m) for m in extra]
    crop = train.crop_size
    h, w = img.shape[-2:]
    top = int(torch.randint(0, max(h - crop, 0) + 1, (1,), generator=generator))
    left = int(torch.randint(0, max(w - crop, 0) + 1, (1,), generator=generator))
    pad = (0, max(crop - w, 0), 0, max(crop - h, 0))

    def cut(x, fill=0):
        x = x.as_subclass(torch.Tensor)[:, top:top + crop, left:left + crop]
        return F.pad(x, pad, value=fill)
    out = [cut(img), cut(extra[0])]
    if mask is not None:
        out.append(cut(extra[1], IGNORE)[0])
    return tuple(out)


class TrainImages(torch.utils.data.Dataset):
    """(image, valid, labels, index) for classification-style training on image-level labels."""

    def __init__(self, split, train: TrainConfig, seed: int, masked_input: MaskedInputConfig | None = None):
        self.split, self.train, self.seed, self.epoch = split, train, seed, 0
        self.masked_input = masked_input
        self.labels = torch.from_numpy(split.labels).float()

    def __len__(self) -> int:
        return len(self.split)

    def moved(self, index: int, mask: np.ndarray) -> torch.Tensor:
        """A label-like `mask` over the whole image `index`, through the rescale, flip and crop its image
        gets this epoch (they are drawn first from the image's generator: the same draws again)."""
        return augment(self.split.image(index), self.train, sample_generator(self.seed, self.epoch, index),
                       mask)[2]

    def __getitem__(self, index: int):
        generator = sample_generator(self.seed, self.epoch, index)
        image, valid = augment(self.split.image(index), self.train, generator)
        labels = self.labels[index]
        if self.masked_input is not None:
            if torch.rand(1, generator=generator).item() < self.masked_input.empty_rate:
                # nothing left to see: no category, not even background (no valid pixel)
                return torch.zeros_like(image), torch.zeros_like(valid), torch.zeros_like(labels), index
            image = hide_and_seek(image, self.masked_input, generator)
        return image, valid, labels, index


class LabelledImages(TrainImages):
    """(image, valid, label map, index): images with a per-pixel label (255 = unknown) read by
    `read_labels(index)`, augmented together; what the affinity and segmentation networks train on."""

    def __init__(self, split, train: TrainConfig, seed: int, read_labels):
        self.split, self.train, self.seed, self.epoch = split, train, seed, 0
        self.read_labels = read_labels

    def __getitem__(self, index: int):
        generator = sample_generator(self.seed, self.epoch, index)
        return (*augment(self.split.image(index), self.train, generator, self.read_labels(index)), index)


def hide_and_seek(image: torch.Tensor, masked: MaskedInputConfig, generator: torch.Generator):
    """With probability `rate`, set random grid cells to 0 (the mean colour): the SE then knows masked
    images before it judges nothing else in stage 2."""
    if masked.rate == 0 or torch.rand(1, generator=generator).item() >= masked.rate:
        return image
    cells = (torch.rand(1, 1, masked.grid, masked.grid, generator=generator) >= masked.hide).float()
    return image * F.interpolate(cells, image.shape[-2:], mode="nearest")[0]
