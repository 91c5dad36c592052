"""The losses: the SE's presence loss, the CAM's loss, and the SLAMs terms (SLAMS.md).

Notation as in SLAMS.md: y_hat = [1, y] (background is in every image), P(b) the present categories of
image b, M_k the sigmoid map of category k, S_j(x) the frozen SE's presence score of category j on
image x. Every SLAMs term is averaged over the pairs (b, k) of one image first and then over images,
so a batch split over several processes averages to the same value as the whole batch on one.
Pixel means count only valid (non-padded) pixels."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .models.semantic_encoder import cell_cosines

EPS = 1e-4


def with_background(labels: torch.Tensor) -> torch.Tensor:
    """B x K image labels -> B x (K+1) y_hat, background (index 0) present everywhere."""
    return torch.cat([torch.ones_like(labels[:, :1]), labels], 1)


def presence_loss(semantics, embeddings: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
    """BCE(p(I), y_hat); for absent categories only the image embedding is pushed: s_k is detached."""
    s = semantics.semantics()
    present = y_hat[..., None] > 0
    s_used = torch.where(present, s.expand(*present.shape[:2], -1), s.detach())
    scores = semantics.score(semantics.cosine(embeddings, s_used))
    return F.binary_cross_entropy(scores.clamp(EPS, 1 - EPS), y_hat)


def strongest_cells(semantics, pixels: torch.Tensor, y_hat: torch.Tensor, valid: torch.Tensor,
                    share: float) -> torch.Tensor:
    """B x h x w: the cells that look most like a present foreground category, the top `share` of the
    valid cells by cos(e_k(x), s_k) for each present k. pixels: the embedding map B x (K+1)D x h x w."""
    b, _, h, w = pixels.shape
    categories = y_hat.shape[1]
    with torch.no_grad():
        cos = cell_cosines(pixels, semantics.semantics()).flatten(2)
        inside = F.interpolate(valid.float(), (h, w), mode="area").flatten(1) > 0.5
        fg = cos[:, 1:].masked_fill(~inside[:, None], -1.0)
        n = (inside.sum(1).float() * share).ceil().clamp_min(1).long()
        kth = fg.sort(-1, descending=True).values.gather(-1, (n - 1)[:, None, None].expand(-1, categories - 1, 1))
        chosen = ((fg >= kth) & (y_hat[:, 1:, None] > 0) & inside[:, None]).any(1)
    return chosen.view(b, h, w)


def background_exclusion_loss(semantics, embeddings: torch.Tensor, holds_object: torch.Tensor) -> torch.Tensor:
    """BCE(p_0(piece), 0) over the pieces made of an image's most category-like cells: such a piece
    holds no background. holds_object: B, False where an image gave no piece."""
    if not holds_object.any():
        return embeddings.sum() * 0.0
    p0 = semantics.score(semantics.cosine(embeddings))[holds_object, 0]
    return F.binary_cross_entropy(p0.clamp(EPS, 1 - EPS), torch.zeros_like(p0))


def reconstruction_loss(decoded: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(decoded.float(), images.float())


def cam_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.multilabel_soft_margin_loss(logits.float(), labels)


def semantic_guidance_loss(semantics, embeddings: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
    """L_sem = BCE(score(cos(e_hat_k(I), s_k)), y_hat_k): the AN classifies in the SE's space; the SE's
    semantics are frozen (no gradient reaches them)."""
    s = semantics.semantics().detach()
    scores = semantics.score(semantics.cosine(embeddings, s))
    return F.binary_cross_entropy(scores.clamp(EPS, 1 - EPS), y_hat)


def pairs_of(y_hat: torch.Tensor):
    """Every (image, present category) pair and, per pair, a 0/1 row of the *other* present
    categories: (b_idx, k_idx, others P x (K+1))."""
    b_idx, k_idx = torch.nonzero(y_hat > 0, as_tuple=True)
    others = y_hat[b_idx].clone()
    others[torch.arange(len(k_idx)), k_idx] = 0
    return b_idx, k_idx, others


def per_image_mean(values: torch.Tensor, b_idx: torch.Tensor, batch: int) -> torch.Tensor:
    """Mean over each image's pairs, then over the images of the batch."""
    sums = torch.zeros(batch, device=values.device, dtype=values.dtype).index_add(0, b_idx, values)
    counts = torch.zeros(batch, device=values.device, dtype=values.dtype).index_add(
        0, b_idx, torch.ones_like(values))
    return (sums / counts.clamp_min(1)).mean()


def _mean_others(scores: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    return (scores * others).sum(1) / others.sum(1).clamp_min(1)


def foreground_loss(fg_scores, k_idx, others, b_idx, batch):
    """Correctness: I * M_k must carry k and no other present category,
    L_fg = 1/2 [(1 - S_k(I M_k)) + mean_{j in P(b), j != k} S_j(I M_k)]."""
    own = fg_scores.gather(1, k_idx[:, None])[:, 0]
    return per_image_mean(0.5 * ((1 - own) + _mean_others(fg_scores, others)), b_idx, batch)


def background_loss(bg_scores, k_idx, others, b_idx, batch):
    """Completeness: nothing of k may stay outside the map, the other present categories do,
    L_bg = 1/2 [S_k(I (1 - M_k)) + mean_{j in P(b), j != k} (1 - S_j(I (1 - M_k)))]."""
    own = bg_scores.gather(1, k_idx[:, None])[:, 0]
    return per_image_mean(0.5 * (own + _mean_others(1 - bg_scores, others)), b_idx, batch)


def _pixel_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean over the last two dims, each pixel weighted by its valid share."""
    return (values * weight).sum((-2, -1)) / weight.sum((-2, -1)).clamp_min(EPS)


def regularization_loss(maps: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Compactness: L_reg = mean(M_1..K) + (1 - mean(M_0)) over valid pixels, all categories."""
    fg = _pixel_mean(maps[:, 1:], weight).mean(1)
    bg = _pixel_mean(maps[:, 0], weight[:, 0])
    return (fg + 1 - bg).mean()


def partition_loss(maps: torch.Tensor, y_hat: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Consistency as a partition: L_con = mean_(b,k) mean_pixels (M_k + max_{j in P(b), j != k} M_j - 1)^2
    over images with at least two present categories (background counts)."""
    b_idx, k_idx, others = pairs_of(y_hat)
    own = maps[b_idx, k_idx]
    strongest_other = (maps[b_idx] * others[:, :, None, None] - (1 - others[:, :, None, None])).amax(1)
    has_other = others.sum(1) > 0
    values = _pixel_mean((own + strongest_other - 1) ** 2, weight[b_idx, 0]) * has_other
    return per_image_mean(values, b_idx, maps.shape[0])


def transform_consistency_loss(maps: torch.Tensor, maps_of_transformed: torch.Tensor,
                               transform, y_hat: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Consistency under a transform T of the input: M(T(I)) = T(M(I)) on the present categories."""
    aligned = transform(maps)
    present = y_hat[:, :, None, None]
    w = transform(weight)
    diff = _pixel_mean((aligned - maps_of_transformed) ** 2 * present, w)
    return (diff.sum(1) / y_hat.sum(1)).mean()
