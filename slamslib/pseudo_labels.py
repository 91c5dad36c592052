"""From one image's stored maps to its pseudo labels, and the same over a split in parallel.

Per image: seed (threshold t on the strongest labelled map) -> random walk over the affinity
network's features (walked maps, each / its max, against a background score) -> dense CRF. The
written label is the CRF's, with 255 where it disagrees with the random walk (params: unsure).

Images are refined in worker processes (params: pseudo_labels.workers), each with one torch thread,
so a run's labels do not depend on how many processes made them."""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import Config
from .data.palette import save_palette_png
from .data.transforms import to_tensor
from .maps import foreground, load_maps
from .metrics import IGNORE, SegmentationScore
from .paths import atomic_path
from .processes import die_with_parent
from .refine import dense_crf, labels_from_scores, pair_distances, random_walk, transition_matrix

STEPS = ("seed", "rw", "rw_crf")


def affinity_labels(fg_maps: np.ndarray, fg_classes: np.ndarray, threshold: float, fg_margin: float,
                    bg_margin: float) -> np.ndarray:
    """Confident seeds for the affinity network: a class where the strongest map > t + fg_margin (1 - t),
    background where it is < t (1 - bg_margin), 255 (unsure) between. Margins are relative so that one
    setting suits methods whose best t differ (SLAMs' normalised sigmoids, CAM's normalised CAMs)."""
    strongest = fg_maps.max(0) if len(fg_classes) else np.zeros(fg_maps.shape[-2:], np.float32)
    labels = np.full(strongest.shape, IGNORE, np.uint8)
    labels[strongest < threshold * (1 - bg_margin)] = 0
    if len(fg_classes):
        sure = strongest > threshold + fg_margin * (1 - threshold)
        labels[sure] = np.asarray(fg_classes)[fg_maps.argmax(0)][sure]
    return labels


def write_label(label: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        save_palette_png(label, tmp)


@dataclass
class Refiner:
    """What one process needs to refine an image of `split` (maps of one method in maps_dir)."""
    cfg: Config
    split: object
    maps_dir: Path
    seed_threshold: float
    rw_threshold: float
    affinity: torch.nn.Module | None = None   # None: only the affinity labels can be made

    def maps(self, index: int):
        return foreground(*load_maps(self.maps_dir / f"{self.split.names[index]}.npz"))

    def affinity_labels(self, index: int) -> np.ndarray:
        a = self.cfg.pseudo_labels.affinity
        return affinity_labels(*self.maps(index), self.seed_threshold, a.fg_margin, a.bg_margin)

    @torch.no_grad()
    def walk(self, image: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Score maps (C x H x W) after the random walk, at image size."""
        rw = self.cfg.pseudo_labels.random_walk
        features = self.affinity(to_tensor(image)[None])[0].float()
        cells = features.shape[-2:]
        small = F.interpolate(torch.from_numpy(scores)[None], cells, mode="area")[0]
        transition = transition_matrix(pair_distances(features, rw.radius), cells, rw.radius, rw.beta)
        walked = random_walk(small, transition, rw.iterations)
        return F.interpolate(walked[None], scores.shape[-2:], mode="bilinear", align_corners=False)[0].numpy()

    def random_walk_labels(self, image: np.ndarray, fg_maps: np.ndarray, fg_classes) -> np.ndarray:
        """background "walked": a background score (1 - strongest map)^alpha walks with the maps, alpha
        chosen so that its argmax before the walk is the seed at threshold t; the label is the argmax
        after. "threshold": the maps walk alone, each / its max, against the background score t_rw."""
        if len(fg_classes) == 0:
            return np.zeros(fg_maps.shape[-2:], np.int64)
        if self.cfg.pseudo_labels.random_walk.background == "threshold":
            walked = self.walk(image, fg_maps)
            walked /= np.maximum(walked.reshape(len(walked), -1).max(1), 1e-8)[:, None, None]
            return labels_from_scores(walked, fg_classes, self.rw_threshold)
        t = min(max(self.seed_threshold, 1e-3), 1 - 1e-3)
        alpha = np.log(t) / np.log(1 - t)          # (1 - t)^alpha = t
        background = (1 - fg_maps.max(0, keepdims=True)) ** alpha
        walked = self.walk(image, np.concatenate([background, fg_maps]).astype(np.float32))
        return np.concatenate([[0], fg_classes])[walked.argmax(0)]

    def steps(self, index: int) -> dict[str, np.ndarray]:
        """The label image after each step, and the one written (255 = unsure)."""
        fg_maps, fg_classes = self.maps(index)
        image = self.split.image(index)
        out = {"seed": labels_from_scores(fg_maps, fg_classes, self.seed_threshold)}
        out["rw"] = self.random_walk_labels(image, fg_maps, fg_classes)
        out["rw_crf"] = dense_crf(image, out["rw"], np.concatenate([[0], np.sort(fg_classes)]),
                                  self.cfg.pseudo_labels.crf)
        unsure = self.cfg.pseudo_labels.unsure == "disagree"
        out["written"] = np.where(out["rw_crf"] == out["rw"], out["rw_crf"], IGNORE) if unsure \
            else out["rw_crf"]
        return out


# ---- one process's share of the work ---------------------------------------------------------

_REFINER: Refiner | None = None


def _start(refiner: Refiner, threads: int) -> None:
    global _REFINER
    torch.set_num_threads(threads)
    _REFINER = refiner


def _start_worker(refiner: Refiner, threads: int) -> None:
    die_with_parent()
    _start(refiner, threads)


def _score_new(num_classes: int) -> dict:
    return {step: SegmentationScore(num_classes) for step in (*STEPS, "written")}


def _make(job: tuple[str, list[int], Path, frozenset]) -> dict:
    """Refine (or label for the affinity net) a chunk of images; write each PNG into out_dir and
    score those whose names are in `scored` against their masks."""
    kind, indices, out_dir, scored = job
    split = _REFINER.split
    scores = _score_new(split.num_classes)
    for i in indices:
        name = split.names[i]
        if kind == "affinity":
            labels = {"written": _REFINER.affinity_labels(i)}
        else:
            labels = _REFINER.steps(i)
        write_label(labels["written"], out_dir / f"{name}.png")
        if name in scored:
            gt = split.mask(i)
            for step, label in labels.items():
                scores[step].update(label, gt)
    return {step: s for step, s in scores.items() if s.images}


def label_split(refiner: Refiner, kind: str, out_dir: Path, scored_names, workers: int,
                progress: bool = True, chunk: int = 16) -> dict[str, SegmentationScore]:
    """Write a label PNG for every image of refiner.split into out_dir (kind: "affinity" for the
    affinity net's confident seeds, "pseudo" for the refined pseudo labels), in `workers` processes
    (0: this one); returns the scores of each step over the images named in `scored_names`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scored = frozenset(scored_names)
    n = len(refiner.split)
    jobs = [(kind, list(range(s, min(s + chunk, n))), out_dir, scored) for s in range(0, n, chunk)]
    total = _score_new(refiner.split.num_classes)
    bar = tqdm(total=n, desc=f"{kind} labels", disable=not progress, dynamic_ncols=True)
    threads = torch.get_num_threads()
    if workers == 0:   # here, but on one thread as a worker would be: the same labels either way
        _start(refiner, 1)
        results = map(_make, jobs)
    else:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(refiner, 1))
        results = pool.map(_make, jobs)
    try:
        for job, part in zip(jobs, results):
            for step, score in part.items():
                total[step].add(score)
            bar.update(len(job[1]))
    finally:
        bar.close()
        if workers:
            pool.shutdown(cancel_futures=True)
        else:
            torch.set_num_threads(threads)
    return {step: s for step, s in total.items() if s.images}
