"""Turning activation maps into masks: pairwise affinities, the random walk, the dense CRF.

The random walk follows AffinityNet (Ahn & Kwak 2018): a network predicts a feature per cell (stride 4);
two cells within a radius have affinity a_ij = exp(-mean_c |f_i - f_j|); the transition matrix is
T = D^-1 A with A = a^beta (self-loops included) and the maps are walked v <- T v for some steps, so
each cell ends with the affinity-weighted mean of where it can reach: activation spreads over regions
the affinities hold together and stops at their boundaries.
The dense CRF is Krähenbühl & Koltun's, through pydensecrf."""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import torch

from .config import CrfConfig


@lru_cache(maxsize=None)
def neighbour_offsets(radius: int) -> tuple[tuple[int, int], ...]:
    """Offsets (dy, dx) to the cells closer than `radius`, one per unordered pair (half plane)."""
    return tuple((dy, dx) for dy in range(radius) for dx in range(-radius + 1, radius)
                 if (dy > 0 or dx > 0) and dy * dy + dx * dx < radius * radius)


def _offsets_in(h: int, w: int, radius: int):
    """The neighbour offsets that can pair two cells of an h x w grid."""
    return [(dy, dx) for dy, dx in neighbour_offsets(radius) if dy < h and abs(dx) < w]


def _pair_slices(h: int, w: int, dy: int, dx: int):
    """Index slices of the cells (y, x) and of their partners (y + dy, x + dx), both inside h x w."""
    x0, x1 = max(0, -dx), w - max(0, dx)
    return (slice(0, h - dy), slice(x0, x1)), (slice(dy, h), slice(x0 + dx, x1 + dx))


def pair_distances(features: torch.Tensor, radius: int) -> list[torch.Tensor]:
    """For each neighbour offset, mean_c |f_i - f_j| of every pair: features are (B x) C x h x w and
    each result is (B x) h' x w' over the cells whose partner lies inside the grid."""
    h, w = features.shape[-2:]
    out = []
    for dy, dx in _offsets_in(h, w, radius):
        (ys, xs), (yt, xt) = _pair_slices(h, w, dy, dx)
        out.append((features[..., ys, xs] - features[..., yt, xt]).abs().mean(-3))
    return out


def pair_labels(labels: torch.Tensor, radius: int, ignore: int = 255):
    """For each offset, masks of the labelled pairs: (same foreground, same background, different);
    pairs with an unsure (ignore) end are in none of them. labels: (B x) h x w integers."""
    h, w = labels.shape[-2:]
    out = []
    for dy, dx in _offsets_in(h, w, radius):
        (ys, xs), (yt, xt) = _pair_slices(h, w, dy, dx)
        a, b = labels[..., ys, xs], labels[..., yt, xt]
        known = (a != ignore) & (b != ignore)
        same = known & (a == b)
        out.append((same & (a > 0), same & (a == 0), known & (a != b)))
    return out


def cell_labels(labels: torch.Tensor, cells: tuple[int, int], stride: int, ignore: int = 255):
    """The label at the centre of each stride x stride cell, (B x) h x w -> (B x) cells; cells whose
    centre lies outside the image are `ignore`."""
    centre = labels[..., stride // 2::stride, stride // 2::stride][..., :cells[0], :cells[1]]
    pad = (0, cells[1] - centre.shape[-1], 0, cells[0] - centre.shape[-2])
    return torch.nn.functional.pad(centre, pad, value=ignore)


def affinity_loss(distances: list[torch.Tensor], masks) -> torch.Tensor:
    """AffinityNet's balanced loss: pairs of one foreground class and pairs of background pulled
    together (-log a = d), pairs across a boundary pushed apart (-log(1 - a)); each kind averaged over
    its pairs, then weighted 1/4, 1/4, 1/2."""
    d = torch.cat([x.flatten() for x in distances])
    fg, bg, neg = (torch.cat([m[i].flatten() for m in masks]) for i in range(3))
    far = -torch.log((-torch.expm1(-d)).clamp_min(1e-5))

    def mean(values, mask):
        return (values * mask).sum() / mask.sum().clamp_min(1)
    return mean(d, fg) / 4 + mean(d, bg) / 4 + mean(far, neg) / 2


def transition_matrix(distances: list[torch.Tensor], shape: tuple[int, int], radius: int,
                      beta: float) -> torch.Tensor:
    """The row-stochastic N x N (N = h w) sparse matrix D^-1 A, A_ij = exp(-d_ij)^beta, A_ii = 1."""
    h, w = shape
    index = torch.arange(h * w).view(h, w)
    rows, cols, values = [index.flatten()], [index.flatten()], [torch.ones(h * w)]
    for (dy, dx), d in zip(_offsets_in(h, w, radius), distances):
        (ys, xs), (yt, xt) = _pair_slices(h, w, dy, dx)
        a, b = index[ys, xs].flatten(), index[yt, xt].flatten()
        weight = torch.exp(-beta * d.flatten().float())
        rows += [a, b]
        cols += [b, a]
        values += [weight, weight]
    rows, cols, values = torch.cat(rows), torch.cat(cols), torch.cat(values)
    degree = torch.zeros(h * w).index_add_(0, rows, values)
    matrix = torch.sparse_coo_tensor(torch.stack([rows, cols]), values / degree[rows], (h * w, h * w),
                                     check_invariants=False).coalesce()
    with warnings.catch_warnings():   # CSR is "beta" in torch, and 15x faster than COO for the walk
        warnings.simplefilter("ignore", UserWarning)
        return matrix.to_sparse_csr()


def random_walk(maps: torch.Tensor, transition: torch.Tensor, iterations: int) -> torch.Tensor:
    """C x h x w maps after `iterations` steps v <- T v."""
    c, h, w = maps.shape
    v = maps.reshape(c, h * w).T.contiguous().float()
    for _ in range(iterations):
        v = transition @ v
    return v.T.reshape(c, h, w)


def labels_from_scores(fg_maps: np.ndarray, fg_classes: np.ndarray, background: float) -> np.ndarray:
    """Class index per pixel: the strongest labelled map, or background where none exceeds it."""
    if len(fg_classes) == 0:
        return np.zeros(fg_maps.shape[-2:], np.int64)
    return np.where(fg_maps.max(0) > background, np.asarray(fg_classes)[fg_maps.argmax(0)], 0)


def dense_crf(image: np.ndarray, labels: np.ndarray, classes: np.ndarray, cfg: CrfConfig) -> np.ndarray:
    """Refine a label image with a fully connected CRF over the classes present in `classes`
    (background included): unary = each pixel's label with probability gt_prob, the rest spread over
    the other classes; a Gaussian (smoothness) and a bilateral (appearance) pairwise term."""
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_labels

    classes = np.asarray(classes)
    if len(classes) < 2:
        return labels.copy()
    h, w = labels.shape
    local = np.searchsorted(classes, labels)   # class index -> position among `classes`
    crf = dcrf.DenseCRF2D(w, h, len(classes))
    crf.setUnaryEnergy(np.ascontiguousarray(
        unary_from_labels(local, len(classes), gt_prob=cfg.gt_prob, zero_unsure=False)))
    crf.addPairwiseGaussian(sxy=cfg.gaussian_sxy, compat=cfg.gaussian_compat)
    crf.addPairwiseBilateral(sxy=cfg.bilateral_sxy, srgb=cfg.bilateral_srgb,
                             rgbim=np.require(image, np.uint8, ["C", "W"]), compat=cfg.bilateral_compat)
    q = np.asarray(crf.inference(cfg.iterations)).reshape(len(classes), h, w)
    return classes[q.argmax(0)]
