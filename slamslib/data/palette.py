"""PASCAL VOC's colour palette and the PNG flavours VOC tools read."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def voc_palette(n: int = 256) -> np.ndarray:
    """The VOC colour map (bit-interleaved class index), n x 3 uint8; index 255 is the void colour."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for index in range(n):
        c, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette[index] = (r, g, b)
    return palette


def save_palette_png(label: np.ndarray, path: str | Path) -> None:
    """A class-index map as a VOC `SegmentationClass` PNG (mode P, VOC palette)."""
    image = Image.fromarray(label.astype(np.uint8), mode="P")
    image.putpalette(voc_palette().flatten().tolist())
    image.save(path)


def save_index_png(label: np.ndarray, path: str | Path) -> None:
    """A class-index map as an SBD-style `SegmentationClassAug` PNG (mode L, values are classes)."""
    Image.fromarray(label.astype(np.uint8), mode="L").save(path)


def colorize(label: np.ndarray) -> np.ndarray:
    """Class-index map -> RGB image in VOC colours (for figures)."""
    return voc_palette()[label.astype(np.uint8)]
