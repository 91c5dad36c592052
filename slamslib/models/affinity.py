"""The affinity network of the random walk (AffinityNet's role): a feature per stride-4 cell, from the
backbone's stride-4 stage and its last stage brought up to stride 4, so that cells of one region get
near features and cells across a boundary far ones (slamslib.refine turns distances into affinities)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class AffinityNet(nn.Module):
    stride = 4

    def __init__(self, backbone: nn.Module, embed_dim: int):
        super().__init__()
        self.backbone = backbone
        self.split, low_channels = backbone.low_level
        self.low = nn.Conv2d(low_channels, embed_dim, 1)
        self.high = nn.Conv2d(backbone.out_channels, embed_dim, 1)
        self.embed = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(2 * embed_dim, embed_dim, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """B x D x ceil(H/4) x ceil(W/4) features (inputs padded to a multiple of the backbone stride)."""
        h, w = images.shape[-2:]
        step = self.backbone.stride
        padded = F.pad(images, (0, -w % step, 0, -h % step))
        low = self.backbone.body[:self.split](padded)
        high = self.backbone.body[self.split:](low)
        high = F.interpolate(self.high(high), low.shape[-2:], mode="bilinear", align_corners=False)
        features = self.embed(torch.cat([self.low(low), high], 1))
        return features[..., :-(-h // self.stride), :-(-w // self.stride)]

    def head_parameters(self):
        return [*self.low.parameters(), *self.high.parameters(), *self.embed.parameters()]
