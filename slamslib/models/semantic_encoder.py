"""Stage 1: the Semantic Encoder (SE) learns what each category looks like (SLAMS.md, stage 1).

Per-pixel embeddings for every category (1x1 conv + ReLU), pooled over the image into e_k(I); a table
of category semantics s_k (ReLU'd, so every cosine lies in [0, 1]); presence p_k = cos(e_k, s_k), or
sigmoid(tau (cos - delta)) when tau > 0. Sum and mean pooling give the same cosine ("mean" covers
both); "attention" pooling weighs each pixel by softmax(sharpness * cos(e_k(x), s_k)) over the image,
so the pixels that look most like k make e_k(I) instead of the background that fills most of every
image. An optional decoder rebuilds the image from the embedding map."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-4


def cosine_to(embeddings: torch.Tensor, semantics: torch.Tensor) -> torch.Tensor:
    """cos(e_k, s_k) for embeddings B x (K+1) x D x ... against semantics (K+1) x D -> B x (K+1) x ...,
    as F.cosine_similarity (each norm clamped at EPS), without broadcasting s over every pixel."""
    e, s = embeddings.float(), semantics.float()
    dots = torch.einsum("bkd...,kd->bk...", e, s / s.norm(dim=-1, keepdim=True).clamp_min(EPS))
    return dots / e.norm(dim=2).clamp_min(EPS)


def cell_cosines(pixels: torch.Tensor, semantics: torch.Tensor) -> torch.Tensor:
    """An embedding map B x (K+1)D x h x w against semantics (K+1) x D -> cos per cell, B x (K+1) x h x w."""
    b, _, h, w = pixels.shape
    return cosine_to(pixels.view(b, semantics.shape[0], -1, h, w), semantics)


def positive(x: torch.Tensor, activation: str) -> torch.Tensor:
    """ReLU as in SLAMS.md, or softplus: also non-negative (cosines stay in [0, 1]) but never zero,
    so an embedding or a semantic row cannot die."""
    return F.softplus(x) if activation == "softplus" else F.relu(x)


class EmbeddingHead(nn.Module):
    """1x1 conv to (K+1) x D channels + ReLU; pooled over the valid pixels into B x (K+1) x D."""

    def __init__(self, channels: int, categories: int, dim: int, activation: str = "relu",
                 pool: str = "mean", sharpness: float = 10.0):
        super().__init__()
        self.categories, self.dim, self.activation = categories, dim, activation
        self.pool, self.sharpness = pool, sharpness
        self.conv = nn.Conv2d(channels, categories * dim, 1)

    def forward(self, features, valid=None, semantics=None, pooled: bool = True):
        """-> pooled B x (K+1) x D (None when not `pooled`) and the embedding map B x (K+1)D x h x w.
        Attention pooling needs the category semantics (K+1 x D)."""
        pixels = positive(self.conv(features), self.activation)
        if not pooled:
            return None, pixels
        b, _, h, w = pixels.shape
        flat = pixels.view(b, self.categories, self.dim, h * w)
        weight = torch.ones(b, 1, h * w, device=pixels.device, dtype=pixels.dtype)
        if valid is not None:
            weight = F.interpolate(valid, (h, w), mode="area").view(b, 1, h * w).to(pixels.dtype)
        if self.pool == "attention":
            cos = cosine_to(flat, semantics)
            logits = self.sharpness * cos + torch.log(weight.float().clamp_min(EPS))
            weight = torch.softmax(logits, -1).to(pixels.dtype)
        pooled = (flat * weight[:, :, None]).sum(-1) / weight.sum(-1, keepdim=True).clamp_min(EPS)
        return pooled, pixels


class CategorySemantics(nn.Module):
    """s_k for k = 0..K (0 = background) and the presence score of embeddings against them."""

    def __init__(self, categories: int, dim: int, tau: float, delta: float, activation: str = "relu"):
        super().__init__()
        self.activation = activation
        # N(0, 1) as nn.Embedding: after the ReLU about half of each row is zero, so categories start
        # on different supports (a dense positive init makes every cosine ~0.75 and stalls training)
        self.table = nn.Parameter(torch.randn(categories, dim))
        self.tau, self.delta = tau, delta

    def semantics(self) -> torch.Tensor:
        return positive(self.table, self.activation)

    def cosine(self, embeddings, semantics=None):
        """embeddings B x (K+1) x D against s (K+1 x D, or B x (K+1) x D) -> B x (K+1) in [0, 1]."""
        s = self.semantics() if semantics is None else semantics
        return F.cosine_similarity(embeddings.float(), s.float().expand_as(embeddings), dim=-1, eps=EPS)

    def score(self, cos):
        if self.tau > 0:
            return torch.sigmoid(self.tau * (cos - self.delta))
        return cos.clamp(EPS, 1 - EPS)


class Decoder(nn.Module):
    """Embedding map -> image (the reconstruction term keeps embeddings informative of appearance)."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.net = nn.Sequential(nn.Conv2d(channels, 64, 1), nn.ReLU(True),
                                 nn.Conv2d(64, 3 * stride * stride, 3, padding=1), nn.PixelShuffle(stride))

    def forward(self, pixels):
        return self.net(pixels)


class SemanticEncoder(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int, dim: int, input_size: int,
                 tau: float = 0.0, delta: float = 0.5, decoder: bool = True, activation: str = "relu",
                 pool: str = "mean", sharpness: float = 10.0):
        super().__init__()
        self.backbone, self.input_size = backbone, input_size
        self.head = EmbeddingHead(backbone.out_channels, num_classes, dim, activation, pool, sharpness)
        self.semantics = CategorySemantics(num_classes, dim, tau, delta, activation)
        self.decoder = Decoder(num_classes * dim, backbone.stride) if decoder else None

    def resize(self, images):
        """Every SE input is seen at its fixed size, as in the paper (224 at paper scale)."""
        if images.shape[-1] == self.input_size and images.shape[-2] == self.input_size:
            return images
        return F.interpolate(images, (self.input_size, self.input_size), mode="bilinear",
                             align_corners=False, antialias=images.shape[-1] > self.input_size)

    def embed(self, images):
        """B x 3 x H x W (any size) -> pooled embeddings B x (K+1) x D and the embedding map."""
        return self.head(self.backbone(self.resize(images)), semantics=self.semantics.semantics())

    def forward(self, images):
        embeddings, pixels = self.embed(images)
        cos = self.semantics.cosine(embeddings)
        return {"embeddings": embeddings, "cos": cos, "scores": self.semantics.score(cos),
                "pixels": pixels}

    def head_parameters(self):
        heads = [self.head, self.semantics] + ([self.decoder] if self.decoder is not None else [])
        return [p for m in heads for p in m.parameters()]
