"""Why maps come out as they do: where they fall on the embedded benchmark's regions (which no
training ever sees), and how the frozen SE judges hand-made cuts of an image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import losses as L
from .data.synthetic import BODY, CONTEXT, CUE, PLAIN, context_categories, load_region, split_region_code
from .data.transforms import to_tensor
from .maps import load_maps, seed_labels
from .models.semantic_encoder import cell_cosines

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


CUTS = ("ground truth", "cue only", "object + its context", "whole image")


def _cut_maps(cut: str, gt: np.ndarray, region, num_classes: int) -> torch.Tensor:
    """K+1 binary maps of one hand-made cut of the image (void pixels count as background)."""
    labels = np.where(gt == 255, 0, gt).astype(np.int64)
    if region is not None and cut != "ground truth":
        kind, category = split_region_code(region)
        if cut == "cue only":
            labels = np.where(kind == CUE, category, 0)
        elif cut == "object + its context":
            present = np.isin(category, np.unique(labels))
            labels = np.where((kind == CONTEXT) & present, category, labels)
    maps = torch.from_numpy(np.eye(num_classes, dtype=np.float32)[labels]).permute(2, 0, 1)
    return torch.ones_like(maps) if cut == "whole image" else maps


@torch.no_grad()
def judge_cuts(se, split, device, limit: int = 200, synthetic: bool = True) -> pd.DataFrame:
    """How the frozen SE judges hand-made cuts of seed images, in the terms of the SLAMs losses.

    Stage 2 can only learn maps its judge prefers: if the ground-truth cut does not score better
    (lower L_fg, L_bg) than cutting out the whole image, or a cut that adds the category's context
    scores better still, the maps will follow the judge, not the objects. Columns: the two losses,
    and for foreground categories the SE's score of k on the piece inside the cut and on the rest,
    and of background on the piece inside."""
    se = se.to(device).eval()
    cuts = CUTS if synthetic else ("ground truth", "whole image")
    sums = {cut: np.zeros(5) for cut in cuts}
    counts = {cut: np.zeros(5) for cut in cuts}
    for i in range(min(limit, len(split))):
        x = se.resize(to_tensor(split.image(i))[None].to(device))
        y_hat = L.with_background(torch.from_numpy(split.labels[i:i + 1]).float().to(device))
        b_idx, k_idx, others = L.pairs_of(y_hat)
        region = load_region(split.root, split.names[i]) if synthetic else None
        for cut in cuts:
            maps = _cut_maps(cut, split.mask(i), region, y_hat.shape[1])[None].to(device)
            m = F.interpolate(maps, x.shape[-2:], mode="area")[0, k_idx][:, None]
            pieces = torch.cat([x.expand(len(k_idx), -1, -1, -1) * m, x.expand(len(k_idx), -1, -1, -1) * (1 - m)])
            embeddings, _ = se.embed(pieces)
            fg, bg = se.semantics.score(se.semantics.cosine(embeddings)).chunk(2)
            own_fg, own_bg = fg.gather(1, k_idx[:, None])[:, 0], bg.gather(1, k_idx[:, None])[:, 0]
            fgk = k_idx > 0
            values = [L.foreground_loss(fg, k_idx, others, b_idx, 1).item(),
                      L.background_loss(bg, k_idx, others, b_idx, 1).item(),
                      own_fg[fgk].sum().item(), own_bg[fgk].sum().item(), fg[fgk, 0].sum().item()]
            sums[cut] += values
            counts[cut] += [1, 1, int(fgk.sum()), int(fgk.sum()), int(fgk.sum())]
    table = pd.DataFrame({cut: sums[cut] / np.maximum(counts[cut], 1) for cut in cuts},
                         index=["L_fg", "L_bg", "S_k(inside)", "S_k(rest)", "S_0(inside)"]).T
    table.index.name = "cut"
    return table


OBJECT_CUTS = ("object", "cue", "body", "object + ring", "object + its context")
WITH_CONTEXT, WITHOUT_CONTEXT = "k's context in the image", "no context of k in the image"


@torch.no_grad()
def judge_objects(se, split, device, limit: int = 200, ring: int = 4) -> pd.DataFrame:
    """The frozen SE's score of category k on one object of k cut out of a seed image ("inside") and on
    what is left ("rest"), by whether the image shows k's co-occurring context (embedded benchmark).
    Cuts: the ground-truth object alone; its cue alone; its body alone (the object without the cue);
    the object grown by `ring` pixels (is the cut's edge, or its silhouette left in the rest, what the
    judge reads?); the object with its context region.

    L_fg wants S_k(inside) high and L_bg wants S_k(rest) low: a judge for which the object alone does
    not score highest inside and lowest outside teaches maps to take in more than the object (context)
    or less (the cue alone: completeness needs a judge that still sees k in the rest after the cue)."""
    se = se.to(device).eval()
    sums: dict = {}
    for i in range(min(limit, len(split))):
        gt = split.mask(i)
        kind, category = split_region_code(load_region(split.root, split.names[i]))
        present = [k for k in np.unique(gt) if 0 < k < 255]
        if not present:
            continue
        x = to_tensor(split.image(i))[None].to(device)
        cuts, keys = [], []
        for k in present:
            obj = torch.from_numpy((gt == k).astype(np.float32))[None, None]
            context = torch.from_numpy(((kind == CONTEXT) & (category == k)).astype(np.float32))[None, None]
            group = WITH_CONTEXT if context.any() else WITHOUT_CONTEXT
            cue = torch.from_numpy(((kind == CUE) & (category == k)).astype(np.float32))[None, None]
            grown = F.max_pool2d(obj, 2 * ring + 1, 1, ring)
            for cut, m in zip(OBJECT_CUTS, (obj, cue, obj * (1 - cue), grown, torch.maximum(obj, context))):
                if cut == "object + its context" and group == WITHOUT_CONTEXT:
                    continue
                cuts.append(m)
                keys.append((group, cut, int(k)))
        m = torch.cat(cuts).to(device)
        pieces = se.resize(torch.cat([x * m, x * (1 - m)]))
        scores = se.semantics.score(se.semantics.cosine(se.embed(pieces)[0]))
        inside, rest = scores.chunk(2)
        for row, (group, cut, k) in enumerate(keys):
            total = sums.setdefault((group, cut), np.zeros(3))
            total += [inside[row, k].item(), rest[row, k].item(), 1]
    order = [(g, c) for g in (WITH_CONTEXT, WITHOUT_CONTEXT) for c in OBJECT_CUTS if (g, c) in sums]
    table = pd.DataFrame({key: [sums[key][0] / sums[key][2], sums[key][1] / sums[key][2], sums[key][2]]
                          for key in order}, index=["S_k(inside)", "S_k(rest)", "pairs"]).T
    table.index.names = ["group", "cut"]
    table["pairs"] = table["pairs"].astype(int)
    return table


def iou_by_group(per_class_iou: pd.DataFrame, root) -> pd.DataFrame:
    """Mean per-category IoU over the benchmark's context categories and over the others (columns of
    per_class_iou: methods; index: class names, background first and left out)."""
    context = set(context_categories(root))
    foreground = per_class_iou.iloc[1:]
    groups = pd.Series(["context categories" if c in context else "other categories"
                        for c in foreground.index], index=foreground.index)
    return foreground.groupby(groups).mean().T


PIXEL_REGIONS = {"cue": CUE, "body": BODY, "context": CONTEXT, "plain background": PLAIN}


@torch.no_grad()
def pixel_cosines(se, split, device, limit: int = 150) -> pd.DataFrame:
    """What the frozen SE's per-pixel embeddings say, by region of the embedded benchmark: the mean
    cosine of each cell's background embedding to s_0 and of its category's embedding to that s_k
    (region maps at the SE's cell grid, nearest), and both on an all-fill image ("fill"). A background
    semantics that tells background from objects shows as a lower s_0 cosine on cue and body than on
    plain background."""
    se = se.to(device).eval()

    def cosines(image):
        return cell_cosines(se.embed(image)[1], se.semantics.semantics())[0]

    sums = {name: np.zeros(2) for name in PIXEL_REGIONS}
    counts = dict.fromkeys(PIXEL_REGIONS, 0)
    for i in range(min(limit, len(split))):
        cos = cosines(to_tensor(split.image(i))[None].to(device))
        codes = torch.from_numpy(load_region(split.root, split.names[i]).astype(np.float32))[None, None]
        kind, category = split_region_code(
            F.interpolate(codes, cos.shape[-2:], mode="nearest")[0, 0].numpy().astype(np.uint8))
        own = cos.gather(0, torch.from_numpy(category.astype(np.int64))[None].to(device))[0]
        for name, code in PIXEL_REGIONS.items():
            where = torch.from_numpy(kind == code).to(device)
            sums[name] += [cos[0][where].sum().item(), own[where].sum().item()]
            counts[name] += int(where.sum())
    table = pd.DataFrame({name: sums[name] / max(counts[name], 1) for name in PIXEL_REGIONS},
                         index=["cos to s_0", "cos to own s_k"]).T
    table.loc["plain background", "cos to own s_k"] = np.nan      # plain background has no category
    fill = cosines(torch.zeros(1, 3, se.input_size, se.input_size, device=device))
    table.loc["fill"] = [fill[0].mean().item(), np.nan]
    table.index.name = "region"
    return table


FAILURE_MODES = ("area_ratio", "coverage", "mass_on_background", "mass_on_context")


def failure_modes(split, maps_dir: Path, threshold: float, synthetic: bool) -> pd.DataFrame:
    """CAM's two failure modes, measured per category k over the images labelled with k:
    - area_ratio: pixels the seed gives k / ground-truth pixels of k (< 1: under-activation);
    - coverage: share of k's ground-truth pixels the seed gives k;
    - mass_on_background: share of map k's total activation lying on ground-truth background;
    - mass_on_context (embedded benchmark): share lying on k's co-occurring context texture
      (false activation; NaN for a category never shown with a context). The last row, "all", pools
      every category's pixels."""
    k = split.num_classes
    sums = {name: np.zeros(k) for name in ("seed", "gt", "hit", "mass", "mass_bg", "mass_ctx", "ctx")}
    for i, name in enumerate(split.names):
        maps, classes = load_maps(maps_dir / f"{name}.npz")
        gt = split.mask(i)
        pred = seed_labels(maps, classes, threshold)
        context = None
        if synthetic:
            kind, category = split_region_code(load_region(split.root, name))
            context = (kind == CONTEXT)
        for m, c in zip(maps, classes):
            if c == 0:
                continue
            sums["seed"][c] += (pred == c).sum()
            sums["gt"][c] += (gt == c).sum()
            sums["hit"][c] += ((pred == c) & (gt == c)).sum()
            sums["mass"][c] += m.sum()
            sums["mass_bg"][c] += m[gt == 0].sum()
            if context is not None:
                sums["mass_ctx"][c] += m[context & (category == c)].sum()
                sums["ctx"][c] += (context & (category == c)).sum()
    pooled = {key: value[1:].sum() for key, value in sums.items()}
    rows = {}
    for label, s in [*((split.class_names[c], {key: v[c] for key, v in sums.items()})
                       for c in range(1, k)), ("all", pooled)]:
        if s["gt"] == 0:
            continue
        rows[label] = {"area_ratio": s["seed"] / s["gt"], "coverage": s["hit"] / s["gt"],
                       # a map with no mass at all has no share anywhere: NaN, not a clean 0
                       "mass_on_background": s["mass_bg"] / s["mass"] if s["mass"] > 0 else np.nan,
                       "mass_on_context": s["mass_ctx"] / s["mass"] if s["ctx"] and s["mass"] > 0 else np.nan}
    return pd.DataFrame(rows).T[list(FAILURE_MODES)]
