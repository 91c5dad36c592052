"""Where the maps go right or wrong on the embedded benchmark, read from its region maps (which no
training ever sees): recall on the category's cue and on the rest of its body, and the share of
context and of plain background pixels taken for foreground."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .data.synthetic import BODY, CONTEXT, CUE, PLAIN, load_region, split_region_code
from .maps import load_maps, seed_labels

REGIONS = ("cue_recall", "body_recall", "context_fp", "plain_fp")


def region_rates(split, maps_dir: Path, threshold: float | None) -> dict:
    """Rates over all seed images, each a share of that region's pixels (None where it never occurs)."""
    hit = dict.fromkeys(REGIONS, 0)
    count = dict.fromkeys(REGIONS, 0)
    for i, name in enumerate(split.names):
        pred = seed_labels(*load_maps(maps_dir / f"{name}.npz"), threshold)
        kind, category = split_region_code(load_region(split.root, name))
        for region, where, good in (("cue_recall", kind == CUE, pred == category),
                                    ("body_recall", kind == BODY, pred == category),
                                    ("context_fp", kind == CONTEXT, pred > 0),
                                    ("plain_fp", kind == PLAIN, pred > 0)):
            hit[region] += int((where & good).sum())
            count[region] += int(where.sum())
    return {r: (hit[r] / count[r] if count[r] else None) for r in REGIONS}
