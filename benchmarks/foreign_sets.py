"""VOC-layout sets the kit did not design its recipe on, for benchmarks/recipe_robustness.py.

Two small generators written for the robustness check, on purpose unlike the embedded benchmark:
- `discs`: 8 categories in two families of four; a family shares one body (random hue per instance),
  and a small class-coloured disc on the body is the only thing that tells the four apart; half the
  categories come with a striped context texture (64 px images, like the set the issue was filed on);
- `textures`: 6 categories told apart by their surface pattern (checks, stripes at two angles, dots,
  rings, noise) on random blobs of any hue, over smooth gradient backgrounds (128-160 px images).
Plus `kit_set`: the kit's own generator with other knobs and seed, read as a plain VOC tree.
Each writes JPEGImages/, SegmentationClass/ (index PNGs) and ImageSets/Segmentation/{train_aug,train,
val}.txt under <root>/VOC2012, with labels 1..K in VOC's numbering (the kit trains 20 heads).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_voc(root: Path, render, rng: np.random.Generator, sizes: dict[str, int]) -> Path:
    """Render `sizes` images per split ({"train_aug": n, "val": m}; train = the first fifth of
    train_aug) with `render(rng) -> (image HxWx3 uint8, mask HxW uint8)`; returns the VOC2012 folder."""
    voc = Path(root) / "VOC2012"
    if (voc / "ImageSets" / "Segmentation" / "val.txt").is_file():
        return voc
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    lists = {}
    for split, count in sizes.items():
        names = [f"{split}_{i:05d}" for i in range(count)]
        for name in names:
            image, mask = render(rng)
            Image.fromarray(image).save(voc / "JPEGImages" / f"{name}.jpg", quality=95)
            Image.fromarray(mask, mode="L").save(voc / "SegmentationClass" / f"{name}.png")
        lists[split] = names
    lists["train"] = lists["train_aug"][: max(1, len(lists["train_aug"]) // 5)]
    for split, names in lists.items():   # the list last: a set with val.txt is complete
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return voc


def _grid(h, w):
    return np.mgrid[0:h, 0:w].astype(np.float32)


def _gradient(rng, h, w):
    yy, xx = _grid(h, w)
    a, b = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = (np.cos(rng.uniform(0, np.pi)) * xx / w + np.sin(rng.uniform(0, np.pi)) * yy / h)[..., None]
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return a * (1 - t) + b * t + rng.normal(0, 6, (h, w, 3))


def render_discs(rng, size=64):
    """One or two objects (side by side, never hiding each other's disc): family body (ellipse or
    rectangle) in a random hue, the class disc on it."""
    h = w = size
    yy, xx = _grid(h, w)
    image = _gradient(rng, h, w)
    mask = np.zeros((h, w), np.uint8)
    disc_colours = np.array([[230, 30, 30], [30, 200, 30], [40, 60, 230], [240, 220, 20]], np.float32)
    count = int(rng.integers(1, 3))
    objects = []
    for slot in range(count):
        k = int(rng.integers(8))
        cy = rng.uniform(0.35, 0.65) * size
        cx = (rng.uniform(0.35, 0.65) if count == 1 else rng.uniform(0.22, 0.3) + 0.48 * slot) * size
        objects.append((k, cy, cx, rng.uniform(0.14, 0.24) * size, rng.uniform(0.12, 0.2) * size))
    for k, cy, cx, ry, rx in objects:              # contexts first: they never cover a body
        if k % 2 == 0 and rng.random() < 0.8:      # categories 0, 2, 4, 6 come with their context
            box = (np.abs(yy - cy) < 2.2 * ry) & (np.abs(xx - cx) < 2.2 * rx)
            stripes = (np.sin((xx * np.cos(k) + yy * np.sin(k)) * 0.9) > 0)[..., None]
            tone = np.array([90, 60 + 20 * k, 150], np.float32)
            image = np.where(box[..., None], np.where(stripes, tone, tone * 0.5), image)
    for k, cy, cx, ry, rx in objects:
        family, member = divmod(k, 4)
        if family == 0:
            body = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            body = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
        image[body] = rng.uniform(60, 200, 3)
        disc = (yy - cy) ** 2 + (xx - cx - rx * 0.3) ** 2 <= (0.35 * min(ry, rx)) ** 2
        image[disc] = disc_colours[member]
        mask[body] = k + 1
    return np.clip(image, 0, 255).astype(np.uint8), mask


def _pattern(k, yy, xx, period, rng):
    if k == 0:
        return ((yy // period + xx // period) % 2).astype(np.float32)
    if k == 1:
        return (np.sin(xx * 2 * np.pi / period) > 0).astype(np.float32)
    if k == 2:
        return (np.sin((xx + yy) * 2 * np.pi / (period * 1.4)) > 0).astype(np.float32)
    if k == 3:
        return ((np.mod(yy, period) - period / 2) ** 2 + (np.mod(xx, period) - period / 2) ** 2
                < (period / 4) ** 2).astype(np.float32)
    if k == 4:
        cy, cx = yy.mean(), xx.mean()
        return (np.sin(np.hypot(yy - cy, xx - cx) * 2 * np.pi / period) > 0).astype(np.float32)
    return (rng.random(yy.shape) > 0.5).astype(np.float32)


def render_textures(rng):
    """One to three blobs, each covered by its category's pattern in two random hues."""
    h, w = (int(s) for s in rng.integers(128, 161, 2))
    yy, xx = _grid(h, w)
    image = _gradient(rng, h, w)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(1, 4)):
        k = int(rng.integers(6))
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        radius = rng.uniform(0.12, 0.25) * min(h, w)
        angle = np.arctan2(yy - cy, xx - cx)
        wobble = 1 + 0.25 * np.sin(3 * angle + rng.uniform(0, 6.3)) + 0.1 * np.sin(5 * angle)
        blob = np.hypot(yy - cy, xx - cx) <= radius * wobble
        pattern = _pattern(k, yy, xx, float(rng.uniform(6, 10)), rng)[..., None]
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        while np.abs(a - b).sum() < 200:   # the pattern stays visible
            b = rng.uniform(0, 255, 3)
        image = np.where(blob[..., None], a * pattern + b * (1 - pattern), image)
        mask[blob] = k + 1
    return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8), mask


def kit_set(root: Path, seed: int, train: int, val: int) -> Path:
    """The kit's own generator with knobs other than the demo's, read as a VOC tree (data.name=voc)."""
    from slamslib.config import BenchmarkConfig
    from slamslib.data.synthetic import generate
    cfg = BenchmarkConfig(seed=seed, num_classes=6, family_size=3, train_aug_size=train,
                          train_size=train // 5, val_size=val, min_size=80, max_size=128,
                          objects_per_image=(1, 2), context_classes=2, context_rate=0.6,
                          first_silhouette=1)
    voc = Path(root) / "VOC2012"
    generate(cfg, voc)
    return voc


def make_set(name: str, root: Path, seed: int, train: int, val: int) -> Path:
    rng = np.random.default_rng(seed)
    if name == "discs":
        return write_voc(root, render_discs, rng, {"train_aug": train, "val": val})
    if name == "textures":
        return write_voc(root, render_textures, rng, {"train_aug": train, "val": val})
    if name == "kit_other":
        return kit_set(root, seed, train, val)
    raise ValueError(f"unknown set {name!r}: discs, textures or kit_other")
