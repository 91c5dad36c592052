"""What each network optimises, as a module the engine (and DDP) can wrap: forward(images, valid,
labels) -> {"total": ..., one entry per term}. `net` is the network trained and saved."""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import losses as L
from .config import ActivationNetConfig


@contextmanager
def evaluating(module: nn.Module):
    """module in eval mode inside the block, its previous mode restored after it."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


class SemanticEncoderTask(nn.Module):
    """Stage 1: L = BCE(p(I), y_hat) + lambda_rec MSE(decoder, I), on the SE's fixed-size input, and
    with background exclusion on (BackgroundExclusionConfig) + lambda_excl BCE(p_0(strongest cells), 0)."""

    def __init__(self, se, reconstruction_weight: float, exclusion_weight: float = 0.0,
                 exclusion_share: float = 0.1):
        super().__init__()
        self.net, self.reconstruction_weight = se, reconstruction_weight
        self.exclusion_weight, self.exclusion_share = exclusion_weight, exclusion_share

    def forward(self, images, valid, labels):
        x = self.net.resize(images)
        features = self.net.backbone(x)
        semantics = self.net.semantics.semantics()
        embeddings, pixels = self.net.head(features, semantics=semantics)
        y_hat = L.with_background(labels)
        y_hat[:, 0] = (valid.flatten(1).amax(1) > 0).to(y_hat.dtype)   # an all-hidden image has none
        if self.exclusion_weight > 0:
            cells = L.strongest_cells(self.net.semantics, pixels, y_hat, valid, self.exclusion_share)
            whole, pieces = self._background_views(x, features, cells, semantics)
            embeddings = torch.cat([whole[:, :1], embeddings[:, 1:]], 1)
        out = {"presence": L.presence_loss(self.net.semantics, embeddings, y_hat)}
        total = out["presence"]
        if self.net.decoder is not None and self.reconstruction_weight > 0:
            out["reconstruction"] = L.reconstruction_loss(self.net.decoder(pixels), x)
            total = total + self.reconstruction_weight * out["reconstruction"]
        if self.exclusion_weight > 0:
            out["background_exclusion"] = L.background_exclusion_loss(
                self.net.semantics, pieces, cells.flatten(1).any(1))
            total = total + self.exclusion_weight * out["background_exclusion"]
        return {"total": total, **out}

    def _background_views(self, x, features, cells, semantics):
        """Embeddings for the background to learn from without reshaping the backbone (its labels,
        whole image yes, strongest cells no, are the kit's own): the whole images on detached features,
        and the pieces made of their strongest cells, through the backbone in eval mode so batch-norm
        statistics stay those of whole images. One head pass for both."""
        piece = x * F.interpolate(cells[:, None].float(), x.shape[-2:], mode="nearest")
        with torch.no_grad(), evaluating(self.net.backbone):
            piece_features = self.net.backbone(piece)
        both, _ = self.net.head(torch.cat([features.detach(), piece_features]), semantics=semantics)
        return both.chunk(2)


class CamTask(nn.Module):
    def __init__(self, cam):
        super().__init__()
        self.net = cam

    def forward(self, images, valid, labels):
        loss = L.cam_loss(self.net(images, valid)["logits"], labels)
        return {"total": loss, "classification": loss}


def flip_shrink(x: torch.Tensor, factor: float = 0.75) -> torch.Tensor:
    """The transform of the second consistency variant: mirror, shrink, keep the canvas (top-left)."""
    h, w = x.shape[-2:]
    small = F.interpolate(x.flip(-1), (max(1, round(h * factor)), max(1, round(w * factor))),
                          mode="bilinear", align_corners=False)
    return F.pad(small, (0, w - small.shape[-1], 0, h - small.shape[-2]))


class ActivationNetTask(nn.Module):
    """Stage 2: L = l_sem L_sem + l_fg L_fg + l_bg L_bg + l_reg L_reg + l_con L_con (slamslib.losses).

    The SE is frozen and stays in eval mode; gradients reach the maps only through the masked images
    I * M_k and I * (1 - M_k) it judges, which are formed at the SE's input size."""

    def __init__(self, an, se, cfg: ActivationNetConfig):
        super().__init__()
        self.net, self.se, self.cfg = an, se, cfg
        for p in self.se.parameters():
            p.requires_grad_(False)
        self.se.eval()
        self.net.set_semantics(se.semantics.semantics())

    def train(self, mode: bool = True):
        super().train(mode)
        self.se.eval()
        return self

    def judge(self, images, masks):
        """SE scores of every (image, present category) piece: fg = I M_k and bg = I (1 - M_k)."""
        pieces = torch.cat([images * masks, images * (1 - masks)])
        embeddings, _ = self.se.embed(pieces)
        scores = self.se.semantics.score(self.se.semantics.cosine(embeddings))
        return scores.chunk(2)

    def forward(self, images, valid, labels):
        w = self.cfg.losses
        batch = images.shape[0]
        y_hat = L.with_background(labels)
        transform = self.cfg.consistency == "transform" and w.con > 0
        inputs = torch.cat([images, flip_shrink(images)]) if transform else images
        out = self.net(inputs, torch.cat([valid, flip_shrink(valid)]) if transform else valid)
        logits = out["logits"][:batch]
        maps = logits.float().sigmoid()
        weight = F.interpolate(valid, maps.shape[-2:], mode="area")
        terms = {}
        if w.sem > 0:
            terms["sem"] = L.semantic_guidance_loss(self.se.semantics, out["embeddings"][:batch], y_hat)
        if w.fg > 0 or w.bg > 0:
            size = self.se.input_size
            small = self.se.resize(images)
            masks = F.interpolate(logits, (size, size), mode="bilinear", align_corners=False).sigmoid()
            masks = masks * F.interpolate(valid, (size, size), mode="area")
            b_idx, k_idx, others = L.pairs_of(y_hat)
            fg_scores, bg_scores = self.judge(small[b_idx], masks[b_idx, k_idx][:, None])
            if w.fg > 0:
                terms["fg"] = L.foreground_loss(fg_scores, k_idx, others, b_idx, batch)
            if w.bg > 0:
                terms["bg"] = L.background_loss(bg_scores, k_idx, others, b_idx, batch)
        if w.reg > 0:
            terms["reg"] = L.regularization_loss(maps, weight)
        if w.con > 0:
            if transform:
                terms["con"] = L.transform_consistency_loss(
                    maps, out["logits"][batch:].float().sigmoid(), flip_shrink, y_hat, weight)
            else:
                terms["con"] = L.partition_loss(maps, y_hat, weight)
        total = sum(getattr(w, name) * value for name, value in terms.items())
        return {"total": total, **terms}


class AffinityTask(nn.Module):
    """The affinity network on pairwise labels from the seeds (slamslib.refine.affinity_loss).
    `labels` are per-pixel seed labels (255 unsure); each stride-4 cell takes the label at its centre."""

    def __init__(self, net, radius: int):
        super().__init__()
        self.net, self.radius = net, radius

    def forward(self, images, valid, labels):
        from .refine import affinity_loss, cell_labels, pair_distances, pair_labels
        features = self.net(images)
        cells = cell_labels(labels.masked_fill(valid[:, 0] == 0, 255), features.shape[-2:], self.net.stride)
        loss = affinity_loss(pair_distances(features.float(), self.radius), pair_labels(cells, self.radius))
        return {"total": loss, "affinity": loss}


class SegmentationTask(nn.Module):
    """Cross-entropy on per-pixel labels; 255 (void, unsure, padding) never counts."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, images, valid, labels):
        logits = self.net(images).float()
        target = labels.masked_fill(valid[:, 0] == 0, 255)
        if not (target != 255).any():   # nothing labelled in this batch: a zero that keeps the graph
            loss = logits.sum() * 0
        else:
            loss = F.cross_entropy(logits, target, ignore_index=255)
        return {"total": loss, "cross_entropy": loss}
