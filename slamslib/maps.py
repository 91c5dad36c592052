"""Multi-scale activation-map inference, compact storage, and seed evaluation.

Maps are computed at every scale in params (and mirrored), resized back to the image, and averaged
(CAM: summed ReLU CAMs, as IRN does); only the categories in the image label are kept (for SLAMs also
map 0, the background), normalised per class by their maximum where params say so (the CAM always),
and stored as float16, one compressed .npz per image: {"maps": C x H x W, "classes": C}."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import MapsConfig
from .data.transforms import to_tensor
from .data.voc import image_size
from .errors import SlamsError
from .metrics import SegmentationScore, ThresholdSweep
from .paths import atomic_path, write_json

MAPS_MARKER = "done.json"     # written last: a folder without it holds no complete set of maps


def _pad(t: torch.Tensor, multiple: int = 16) -> torch.Tensor:
    """One image padded (zeros, bottom and right) to a multiple of `multiple`."""
    return F.pad(t, (0, -t.shape[-1] % multiple, 0, -t.shape[-2] % multiple))


def size_order(split) -> list[int]:
    """The indices of `split` sorted by image size (from the headers), so that batches hold images
    of one size."""
    sizes = [image_size(split.image_path(i), split.split) for i in range(len(split))]
    return sorted(range(len(split)), key=lambda i: (sizes[i][1], sizes[i][0], i))


@torch.no_grad()
def multiscale_maps(model, images: list[np.ndarray], cfg: MapsConfig, device) -> list[torch.Tensor]:
    """Every class's map for each image (K(+1) x H x W, float32), summed over scales and flips.

    Only images of one size share a forward pass: padded up to a larger neighbour, an image's maps
    would depend on its batch (the small backbone's GroupNorm statistics and every network's
    receptive field take in the padding), so they are the same whatever the batch size."""
    tensors = [to_tensor(image) for image in images]
    sums = [None] * len(tensors)
    by_size: dict[tuple, list[int]] = {}
    for i, t in enumerate(tensors):
        by_size.setdefault(tuple(t.shape[-2:]), []).append(i)
    for members in by_size.values():
        size = tensors[members[0]].shape[-2:]
        whole = torch.stack([tensors[i] for i in members])
        for scale in cfg.scales:
            scaled = whole if scale == 1 else F.interpolate(
                whole, scale_factor=scale, mode="bilinear", align_corners=False, recompute_scale_factor=False)
            h, w = scaled.shape[-2:]
            batch = _pad(scaled).to(device)
            if cfg.flip:
                batch = torch.cat([batch, batch.flip(-1)])
            out = model.activation_maps(batch).float()
            if cfg.flip:  # mirror the mirrored half back: its valid part is then top-left again
                out = out[:len(members)] + out[len(members):].flip(-1)
            out = F.interpolate(out[..., :h, :w], size, mode="bilinear", align_corners=False).cpu()
            for i, m in zip(members, out):
                sums[i] = m if sums[i] is None else sums[i] + m
    return sums


def keep_labelled(summed: torch.Tensor, labels: np.ndarray, method: str, normalize: bool):
    """The maps of the labelled categories (and, for SLAMs, background), as (maps, classes).
    CAM: summed ReLU CAMs / their max; SLAMs: mean sigmoid maps, / their max when `normalize`."""
    classes = np.flatnonzero(labels) + 1
    if method == "cam":
        maps = summed[classes - 1]
        normalize = True
    else:
        classes = np.concatenate([[0], classes])
        maps = summed[classes]
    if normalize:
        maps = maps / maps.flatten(1).amax(1).clamp_min(1e-5)[:, None, None]
    return maps.clamp(0, 1).numpy().astype(np.float16), classes.astype(np.int16)


def save_maps(path: Path, maps: np.ndarray, classes: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, maps=maps, classes=classes)


def load_maps(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as data:
        return data["maps"].astype(np.float32), data["classes"].astype(np.int64)


def stored_maps(out_dir: Path, key: str, images: int, marker: str = MAPS_MARKER) -> dict | None:
    """out_dir's marker when it says the maps of all `images` images are stored there under `key`."""
    path = Path(out_dir) / marker
    done = json.loads(path.read_text()) if path.is_file() else {}
    complete = done.get("key") == key and done.get("images") == images and "map_pixels" in done
    return done if complete else None


def infer_split(model, method: str, split, cfg: MapsConfig, out_dir: Path, device, key: str,
                normalize: bool = True, progress: bool = True, marker: str = MAPS_MARKER,
                force: bool = False) -> dict:
    """Maps for every image of `split` into out_dir/<name>.npz. Skipped when out_dir/done.json holds
    the same `key` (a hash of weights and map params); the marker is written last, so an interrupted
    inference is redone. Returns {"images", "bytes", "map_pixels" (stored map values),
    "bytes_per_image", "seconds"}."""
    import time
    if not force and (done := stored_maps(out_dir, key, len(split), marker)) is not None:
        return done
    marker = out_dir / marker
    marker.unlink(missing_ok=True)   # gone while files are rewritten; back, last, when all are
    started = time.time()
    model = model.to(device).eval()
    total_bytes, map_pixels = 0, 0
    order = size_order(split)
    for start in tqdm(range(0, len(split), cfg.batch_size), desc=f"{method} maps",
                      disable=not progress, dynamic_ncols=True):
        idx = order[start:start + cfg.batch_size]
        summed = multiscale_maps(model, [split.image(i) for i in idx], cfg, device)
        for i, s in zip(idx, summed):
            maps, classes = keep_labelled(s, split.labels[i], method, normalize)
            path = out_dir / f"{split.names[i]}.npz"
            save_maps(path, maps, classes)
            total_bytes += path.stat().st_size
            map_pixels += maps.size
    done = {"key": key, "images": len(split), "bytes": total_bytes, "map_pixels": map_pixels,
            "bytes_per_image": total_bytes / max(len(split), 1), "seconds": time.time() - started}
    write_json(marker, done)
    return done


def foreground(maps: np.ndarray, classes: np.ndarray):
    keep = classes > 0
    return maps[keep], classes[keep]


def evaluate_seeds(split, maps_dir: Path, thresholds, with_background_map: bool) -> dict:
    """Seed mIoU on `split`: background by a swept threshold (best t reported) and, for SLAMs, by
    map 0 (a pixel takes the strongest of background and the labelled maps)."""
    num_classes = split.num_classes
    sweep = ThresholdSweep(num_classes, thresholds)
    by_map0 = SegmentationScore(num_classes) if with_background_map else None
    for i, name in enumerate(split.names):
        maps, classes = load_maps(maps_dir / f"{name}.npz")
        gt = split.mask(i)
        if maps.shape[-2:] != gt.shape:
            raise SlamsError(f"stored maps {maps_dir / name}.npz are {maps.shape[-1]}x{maps.shape[-2]} but the "
                             f"mask of image {name} is {gt.shape[1]}x{gt.shape[0]}: they were made from "
                             "other images (the data changed since); rerun the stage with --force")
        fg_maps, fg_classes = foreground(maps, classes)
        sweep.update(fg_maps, fg_classes, gt)
        if by_map0 is not None:
            by_map0.update(classes[maps.argmax(0)], gt)
    result = {"threshold": sweep.result()}
    if by_map0 is not None:
        result["background_map"] = by_map0.result()
    return result


def seed_labels(maps: np.ndarray, classes: np.ndarray, threshold: float | None) -> np.ndarray:
    """A label image from stored maps: threshold background, or map 0 when threshold is None."""
    if threshold is None:
        return classes[maps.argmax(0)]
    from .refine import labels_from_scores
    return labels_from_scores(*foreground(maps, classes), threshold)
