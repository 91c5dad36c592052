"""Stage 2: the Activation Network (AN): K+1 sigmoid maps (0 = background) and, for semantic guidance,
its own per-category embeddings, scored against the frozen SE's semantics (SLAMS.md, stage 2)."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from .semantic_encoder import EmbeddingHead


class ActivationNet(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int, dim: int, activation: str = "relu"):
        super().__init__()
        self.backbone = backbone
        self.maps = nn.Conv2d(backbone.out_channels, num_classes, 1)
        self.head = EmbeddingHead(backbone.out_channels, num_classes, dim, activation)

    def forward(self, images, valid=None):
        """-> map logits at feature resolution (B x (K+1) x h x w) and pooled embeddings."""
        features = self.backbone(images)
        embeddings, _ = self.head(features, valid)
        return {"logits": self.maps(features), "embeddings": embeddings}

    def activation_maps(self, images):
        """Sigmoid maps at the input size, for inference."""
        logits = self.maps(self.backbone(images))
        return F.interpolate(logits, images.shape[-2:], mode="bilinear", align_corners=False).sigmoid()

    def head_parameters(self):
        return list(self.maps.parameters()) + list(self.head.parameters())
