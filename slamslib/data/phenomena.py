"""Measure, from the files on disk, that the benchmark holds what it claims: small cues, co-occurring
contexts. Reads the region maps, which no training stage reads."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .synthetic import BODY, CONTEXT, CUE, load_region, split_region_code
from .voc import SegmentationFolder


def measure_phenomena(split: SegmentationFolder) -> pd.DataFrame:
    """One row per foreground category:
    - images: images of the split that contain it;
    - cue_share: cue pixels / visible object pixels (under-activation: how little decides the class);
    - context_share: share of its images that show its context texture (co-occurrence);
    - distractor_share: share of the images *without* it that show its context texture."""
    k = split.num_classes
    images = np.zeros(k, dtype=np.int64)
    with_context = np.zeros(k, dtype=np.int64)
    distractors = np.zeros(k, dtype=np.int64)
    cue_px = np.zeros(k, dtype=np.int64)
    object_px = np.zeros(k, dtype=np.int64)
    for i, name in enumerate(split.names):
        kind, category = split_region_code(load_region(split.root, name))
        present = split.labels[i] > 0
        context_seen = np.zeros(k, dtype=bool)
        context_seen[np.unique(category[kind == CONTEXT])] = True
        context_seen = context_seen[1:]
        images[1:] += present
        with_context[1:] += present & context_seen
        distractors[1:] += ~present & context_seen
        cue_px += np.bincount(category[kind == CUE], minlength=k)[:k]
        object_px += np.bincount(category[(kind == CUE) | (kind == BODY)], minlength=k)[:k]
    n = len(split)
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame({
            "category": list(split.class_names[1:]),
            "images": images[1:],
            "image_share": images[1:] / n,
            "cue_share": cue_px[1:] / object_px[1:],
            "context_share": with_context[1:] / images[1:],
            "distractor_share": distractors[1:] / np.maximum(n - images[1:], 1),
        })
    return table.set_index("category")
