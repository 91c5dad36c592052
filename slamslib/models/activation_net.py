"""Stage 2: the Activation Network (AN): K+1 sigmoid maps (0 = background) and, for semantic guidance,
its own per-category embeddings, scored against the frozen SE's semantics (SLAMS.md, stage 2).

Two map heads (`activation_net.map_head`): "conv", a 1x1 convolution to K+1 logits (SLAMS.md), or
"semantic", where the map of category k at pixel x is the SE's own score of the AN's pixel embedding,
sigmoid(tau (cos(e_k(x), s_k) - delta)): the maps then live in the SE's semantic space, and semantic
guidance trains them directly. The SE's semantics are copied into the AN (a buffer saved with its
weights) so that inference needs no SE."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .semantic_encoder import EmbeddingHead, cell_cosines


class ActivationNet(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int, dim: int, activation: str = "relu",
                 pool: str = "mean", map_head: str = "conv", tau: float = 10.0, delta: float = 0.5,
                 sharpness: float = 10.0):
        super().__init__()
        self.backbone, self.map_head = backbone, map_head
        self.tau, self.delta = (tau if tau > 0 else 10.0), delta
        self.maps = nn.Conv2d(backbone.out_channels, num_classes, 1) if map_head == "conv" else None
        self.head = EmbeddingHead(backbone.out_channels, num_classes, dim, activation, pool, sharpness)
        self.register_buffer("semantics", torch.ones(num_classes, dim))

    def set_semantics(self, semantics: torch.Tensor) -> None:
        self.semantics.copy_(semantics.detach())

    def forward(self, images, valid=None, embeddings: bool = True):
        """-> map logits at feature resolution (B x (K+1) x h x w) and pooled embeddings (None when
        not asked for: inference needs the maps alone)."""
        features = self.backbone(images)
        pooled = pixels = None
        if embeddings or self.maps is None:   # the conv head's maps need no embedding at all
            pooled, pixels = self.head(features, valid, self.semantics, pooled=embeddings)
        return {"logits": self._logits(features, pixels), "embeddings": pooled}

    def _logits(self, features, pixels):
        if self.maps is not None:
            return self.maps(features)
        return self.tau * (cell_cosines(pixels, self.semantics) - self.delta)

    def activation_maps(self, images):
        """Sigmoid maps at the input size, for inference."""
        logits = self.forward(images, embeddings=False)["logits"]
        return F.interpolate(logits, images.shape[-2:], mode="bilinear", align_corners=False).sigmoid()

    def head_parameters(self):
        return ([] if self.maps is None else list(self.maps.parameters())) + list(self.head.parameters())
