"""The embedded benchmark: a procedurally generated WSSS dataset in the PASCAL VOC 2012 + SBD layout.

It holds the two phenomena the SLAMs paper is about, and nothing designed to favour one method:

* under-activation: every category is a *shape family* silhouette (shared by `family_size`
  categories) painted in a random colour; only a small *cue* at one end of the object (a share
  `cue_share` of its area: saturated stripes in the category's colour and orientation) tells the
  categories of a family apart. A classifier can decide from the cue alone; the rest of the body
  carries only the weaker family signal.
* co-occurring context: `context_classes` categories usually (`context_rate`) sit on a region of a
  category-specific background texture (a grating, like rails or water), and that texture also shows
  up in images without the category (`context_distractor_rate`), so a classifier can decide from it.

Beside the VOC folders, `SyntheticRegions/` holds a per-pixel region code that no training reads:
`64 * kind + category` with kind 0 plain background, 1 context, 2 body, 3 cue (category 0 for plain
background). The visualization stage measures each failure mode with it.
"""
from __future__ import annotations

import colorsys
import functools
import itertools
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..config import BenchmarkConfig, stable_hash
from ..errors import SlamsError
from .palette import save_index_png, save_palette_png

GENERATOR_VERSION = 2   # 2: k distinct cue hues also when 5 divides num_classes
PLAIN, CONTEXT, BODY, CUE = 0, 1, 2, 3
REGION_DIR = "SyntheticRegions"
SILHOUETTES = ("ellipse", "box", "triangle", "diamond", "plus", "trapezoid", "bowtie", "ring")


def region_code(kind: int, category: int) -> int:
    return 64 * kind + category


def split_region_code(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Region PNG values -> (kind, category) arrays."""
    code = np.asarray(code)
    return code // 64, code % 64


@dataclass(frozen=True)
class Category:
    index: int          # 1..K, as in the masks
    name: str
    family: int
    silhouette: str
    cue_rgb: tuple      # the saturated stripe colour
    cue_angle: float    # stripe orientation, radians
    cue_period: float   # stripe period, px
    context: dict | None  # grating of the co-occurring background, or None


def make_categories(cfg: BenchmarkConfig) -> list[Category]:
    """The category table, a pure function of the seed and the knobs."""
    rng = np.random.default_rng([cfg.seed, 7919])
    k = cfg.num_classes
    hue_offset = rng.random()
    with_context = rng.choice(k, size=cfg.context_classes, replace=False).tolist()
    context_hue_offset = rng.random()
    step = next(s for s in itertools.count(5) if math.gcd(s, k) == 1)   # i -> i * step % k: k hues
    categories = []
    for i in range(k):
        family = i // cfg.family_size
        silhouette = silhouette_of(cfg, family)
        # Hues spread evenly, interleaved so that the members of one family differ most.
        hue = (hue_offset + ((i * step) % k) / k) % 1.0
        cue_rgb = colorsys.hsv_to_rgb(hue, 0.95, 0.95)
        context = None
        if i in with_context:
            # Context hues spread evenly too: each context is a texture of its own category.
            c_hue = (context_hue_offset + with_context.index(i) / len(with_context)) % 1.0
            context = {
                "angle": float(rng.uniform(0, np.pi)),
                "period": float(rng.uniform(3.0, 7.0)),
                "wobble": float(rng.uniform(0.0, 1.5)),
                "rgb_a": colorsys.hsv_to_rgb(c_hue, 0.55, 0.75),
                "rgb_b": colorsys.hsv_to_rgb((c_hue + 0.08) % 1, 0.45, 0.35),
            }
        name = f"{silhouette}_{chr(ord('a') + i % cfg.family_size)}"
        if family >= len(SILHOUETTES):
            name += str(family // len(SILHOUETTES) + 1)
        categories.append(Category(i + 1, name, family, silhouette, tuple(cue_rgb),
                                   float(rng.uniform(0, np.pi)), float(rng.choice([2.5, 3.5])),
                                   context))
    return categories


def silhouette_of(cfg: BenchmarkConfig, family: int) -> str:
    return SILHOUETTES[(cfg.first_silhouette + family) % len(SILHOUETTES)]


def silhouettes_used(cfg: BenchmarkConfig) -> set[str]:
    families = -(-cfg.num_classes // cfg.family_size)
    return {silhouette_of(cfg, f) for f in range(families)}


def _silhouette(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test in object coordinates: u along the long axis, v across, both in [-1, 1]."""
    au, av = np.abs(u), np.abs(v)
    if kind == "ellipse":
        return u * u + v * v <= 1
    if kind == "box":
        return (au <= 1) & (av <= 1)
    if kind == "triangle":
        return (au <= 1) & (av <= (1 + u) / 2)
    if kind == "diamond":
        return au + av <= 1
    if kind == "plus":
        return ((au <= 1) & (av <= 0.4)) | ((au <= 0.4) & (av <= 1))
    if kind == "trapezoid":
        return (au <= 1) & (av <= 0.55 + 0.45 * u)
    if kind == "bowtie":
        return (au <= 1) & (av <= 0.25 + 0.75 * au)
    if kind == "ring":
        r2 = u * u + v * v
        return (r2 <= 1) & (r2 >= 0.2)
    raise ValueError(kind)


def _smooth_field(rng, h: int, w: int, cells: int) -> np.ndarray:
    coarse = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(coarse.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0


def _plain_background(rng, h: int, w: int) -> np.ndarray:
    colours = [np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.05, 0.35),
                                            rng.uniform(0.3, 0.9))) for _ in range(2)]
    t = _smooth_field(rng, h, w, int(rng.integers(2, 5)))[..., None]
    return (colours[0] * (1 - t) + colours[1] * t).astype(np.float32)


def _grating(ctx: dict, yy: np.ndarray, xx: np.ndarray, phase: float) -> np.ndarray:
    along = xx * np.cos(ctx["angle"]) + yy * np.sin(ctx["angle"])
    across = -xx * np.sin(ctx["angle"]) + yy * np.cos(ctx["angle"])
    t = 0.5 + 0.5 * np.sin(2 * np.pi * along / ctx["period"] + ctx["wobble"] * np.sin(across / 3) + phase)
    return (np.array(ctx["rgb_a"]) * t[..., None] + np.array(ctx["rgb_b"]) * (1 - t[..., None]))


def _stripes(cat: Category, yy: np.ndarray, xx: np.ndarray, phase: float) -> np.ndarray:
    along = xx * np.cos(cat.cue_angle) + yy * np.sin(cat.cue_angle)
    on = (np.floor(along / cat.cue_period * 2 + phase) % 2) == 0
    dark = np.array(cat.cue_rgb) * 0.2
    return np.where(on[..., None], np.array(cat.cue_rgb), dark)


@dataclass
class _Object:
    category: Category
    inside: np.ndarray   # full silhouette, before occlusion
    cue: np.ndarray
    box: tuple           # y0, x0, y1, x1 of the silhouette


def _place_object(rng, cat: Category, h: int, w: int, cfg: BenchmarkConfig, yy, xx):
    side = min(h, w)
    length = rng.uniform(*cfg.object_scale) * side
    width = length * rng.uniform(0.5, 0.85)
    angle = rng.uniform(0, 2 * np.pi)
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    dy, dx = yy - cy, xx - cx
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / (length / 2)
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) / (width / 2)
    inside = _silhouette(cat.silhouette, u, v)
    if inside.sum() < 30:
        return None
    # The cue is the far end of the object along its long axis: a share of its area.
    share = rng.uniform(*cfg.cue_share)
    cut = np.quantile(u[inside], 1 - share)
    cue = inside & (u >= cut)
    ys, xs = np.nonzero(inside)
    return _Object(cat, inside, cue, (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1))


def _context_box(rng, box, h, w, scale):
    y0, x0, y1, x1 = box
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    hh, hw = (y1 - y0) * scale / 2, (x1 - x0) * scale / 2
    cy += rng.uniform(0, 0.3) * hh   # like ground or water: a little more below than above
    return (int(max(0, cy - hh)), int(max(0, cx - hw)), int(min(h, cy + hh)), int(min(w, cx + hw)))


def _void_band(label: np.ndarray, width: int) -> np.ndarray:
    """Pixels within `width` px of a border between two different labels (VOC's 255 outline)."""
    edge = np.zeros(label.shape, dtype=bool)
    edge[:, 1:] |= label[:, 1:] != label[:, :-1]
    edge[:, :-1] |= label[:, 1:] != label[:, :-1]
    edge[1:, :] |= label[1:, :] != label[:-1, :]
    edge[:-1, :] |= label[1:, :] != label[:-1, :]
    band = edge
    for _ in range(width - 1):
        grown = band.copy()
        grown[1:] |= band[:-1]
        grown[:-1] |= band[1:]
        grown[:, 1:] |= band[:, :-1]
        grown[:, :-1] |= band[:, 1:]
        band = grown
    return band if width > 0 else np.zeros_like(edge)


def render_image(cfg: BenchmarkConfig, categories: list[Category], rng):
    """One sample: (rgb uint8 HxWx3, label uint8 HxW with 255 void, region uint8 HxW)."""
    h, w = (int(x) for x in rng.integers(cfg.min_size, cfg.max_size + 1, size=2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = _plain_background(rng, h, w)
    region = np.zeros((h, w), dtype=np.uint8)

    objects: list[_Object] = []
    for _ in range(int(rng.integers(cfg.objects_per_image[0], cfg.objects_per_image[1] + 1))):
        cat = categories[int(rng.integers(len(categories)))]
        for _attempt in range(20):
            obj = _place_object(rng, cat, h, w, cfg, yy, xx)
            if obj is None:
                continue
            area = obj.inside.sum()
            if all((obj.inside & o.inside).sum() <= cfg.max_overlap * min(area, o.inside.sum())
                   for o in objects):
                objects.append(obj)
                break

    def paint_context(cat: Category, box):
        y0, x0, y1, x1 = box
        sub_y, sub_x = yy[y0:y1, x0:x1], xx[y0:y1, x0:x1]
        image[y0:y1, x0:x1] = _grating(cat.context, sub_y, sub_x, rng.uniform(0, 2 * np.pi))
        region[y0:y1, x0:x1] = region_code(CONTEXT, cat.index)

    present = {o.category.index for o in objects}
    for obj in objects:
        if obj.category.context is not None and rng.random() < cfg.context_rate:
            paint_context(obj.category, _context_box(rng, obj.box, h, w, cfg.context_scale))
    absent_with_context = [c for c in categories if c.context is not None and c.index not in present]
    if absent_with_context and rng.random() < cfg.context_distractor_rate:
        cat = absent_with_context[int(rng.integers(len(absent_with_context)))]
        side = rng.uniform(0.3, 0.6) * min(h, w)
        y0, x0 = int(rng.uniform(0, h - side)), int(rng.uniform(0, w - side))
        paint_context(cat, (y0, x0, int(y0 + side), int(x0 + side)))

    label = np.zeros((h, w), dtype=np.uint8)
    for obj in objects:  # later objects occlude earlier ones
        cat = obj.category
        body_rgb = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.15, 0.55),
                                                rng.uniform(0.35, 0.85)))
        shade = 0.85 + 0.3 * _smooth_field(rng, h, w, 3)[..., None]
        image[obj.inside] = (body_rgb * shade)[obj.inside]
        stripes = _stripes(cat, yy, xx, rng.integers(2))
        image[obj.cue] = stripes[obj.cue]
        label[obj.inside] = cat.index
        region[obj.inside] = region_code(BODY, cat.index)
        region[obj.cue] = region_code(CUE, cat.index)

    image = image + rng.normal(0, 0.02, image.shape).astype(np.float32)
    rgb = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    label[_void_band(label, cfg.void_width)] = 255
    return rgb, label, region


def benchmark_hash(cfg: BenchmarkConfig) -> str:
    return stable_hash({"version": GENERATOR_VERSION, **cfg.model_dump(mode="json")})


def _write_split(root: Path, cfg, categories, split_code: int, prefix: str, count: int,
                 with_palette: int, desc: str) -> list[str]:
    names = []
    for i in tqdm(range(count), desc=desc, leave=False):
        rng = np.random.default_rng([cfg.seed, split_code, i])
        rgb, label, region = render_image(cfg, categories, rng)
        name = f"{prefix}_{i:06d}"
        Image.fromarray(rgb).save(root / "JPEGImages" / f"{name}.jpg", quality=cfg.jpeg_quality)
        save_index_png(label, root / "SegmentationClassAug" / f"{name}.png")
        Image.fromarray(region, mode="L").save(root / REGION_DIR / f"{name}.png")
        if i < with_palette:  # like VOC, SegmentationClass holds only the train and val masks
            save_palette_png(label, root / "SegmentationClass" / f"{name}.png")
        names.append(name)
    return names


_FILES = [("JPEGImages", ".jpg"), ("SegmentationClassAug", ".png"), (REGION_DIR, ".png")]


def _complete(root: Path) -> bool:
    """Every image, mask and region file its lists name is there (a damaged tree is made again).
    Every stage asks, many times: the full check reruns only when one of the folders changed."""
    stamps = tuple((root / folder).stat().st_mtime_ns if (root / folder).is_dir() else None
                   for folder, _ in _FILES)
    return _complete_at(root, stamps)


@functools.lru_cache(maxsize=8)
def _complete_at(root: Path, folder_stamps: tuple) -> bool:
    lists = root / "ImageSets" / "Segmentation"
    names = {n for split in ("train_aug", "val") if (lists / f"{split}.txt").is_file()
             for n in (lists / f"{split}.txt").read_text().split()}
    return bool(names) and all((root / folder / f"{n}{ext}").is_file()
                               for n in names for folder, ext in _FILES)


def generate(cfg: BenchmarkConfig, root: str | Path, force: bool = False) -> Path:
    """Write the benchmark to `root` (the VOC2012 folder). Reuses an existing tree generated from the
    same knobs; writes into a temporary folder and renames it, so an interrupted run leaves nothing
    that looks complete."""
    root = Path(root)
    marker = root / "benchmark.json"
    digest = benchmark_hash(cfg)
    if root.exists():
        if not marker.is_file():
            raise SlamsError(f"data.root {str(root)!r} exists but holds no benchmark.json: it is not a "
                             "generated benchmark, so the kit will not overwrite it")
        if not force and json.loads(marker.read_text()).get("hash") == digest:
            if _complete(root):
                return root
            print(f"slams: the benchmark in {root} is missing files; generating it again", file=sys.stderr)
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for folder in ("JPEGImages", "SegmentationClass", "SegmentationClassAug", REGION_DIR,
                   "ImageSets/Segmentation"):
        (partial / folder).mkdir(parents=True)
    categories = make_categories(cfg)
    train_aug = _write_split(partial, cfg, categories, 1, "ta", cfg.train_aug_size,
                             cfg.train_size, "benchmark train_aug")
    val = _write_split(partial, cfg, categories, 2, "va", cfg.val_size, cfg.val_size, "benchmark val")
    lists = {"train_aug": train_aug, "train": train_aug[:cfg.train_size], "val": val,
             "trainval": train_aug[:cfg.train_size] + val}
    for split, names in lists.items():
        (partial / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    meta = {
        "hash": digest,
        "generator_version": GENERATOR_VERSION,
        "params": cfg.model_dump(mode="json"),
        "class_names": ["background"] + [c.name for c in categories],
        "context_classes": [c.name for c in categories if c.context is not None],
        "region_codes": "64 * kind + category; kind 0 plain background, 1 context, 2 body, 3 cue",
    }
    (partial / "benchmark.json").write_text(json.dumps(meta, indent=2) + "\n")
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    partial.rename(root)
    return root


def context_categories(root: str | Path) -> list[str]:
    """The categories the benchmark at `root` shows on a co-occurring context (from benchmark.json)."""
    marker = Path(root) / "benchmark.json"
    try:
        return list(json.loads(marker.read_text())["context_classes"])
    except (OSError, ValueError, KeyError) as exc:
        raise SlamsError(f"{marker} is missing or names no context_classes ({type(exc).__name__}); "
                         "regenerate the benchmark") from None


def load_region(root: str | Path, name: str) -> np.ndarray:
    path = Path(root) / REGION_DIR / f"{name}.png"
    try:
        return np.asarray(Image.open(path))
    except (OSError, ValueError) as exc:
        raise SlamsError(f"region map {path} is missing or unreadable ({exc})") from None
