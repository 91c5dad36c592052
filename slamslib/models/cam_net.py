"""The baseline: classification CAM (Zhou et al. 2016) as IRN uses it: global average pooling, a
1x1 classifier without bias, multilabel soft-margin loss; CAM = ReLU of the classifier per pixel."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F


class CamNet(nn.Module):
    def __init__(self, backbone: nn.Module, num_foreground: int):
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Conv2d(backbone.out_channels, num_foreground, 1, bias=False)

    def forward(self, images, valid=None):
        features = self.backbone(images)
        if valid is None:
            pooled = features.mean((2, 3), keepdim=True)
        else:
            weight = F.interpolate(valid, features.shape[-2:], mode="area")
            pooled = (features * weight).sum((2, 3), keepdim=True) / weight.sum((2, 3), keepdim=True
                                                                               ).clamp_min(1e-4)
        return {"logits": self.classifier(pooled).flatten(1)}

    def activation_maps(self, images):
        """ReLU CAMs at the input size (not yet normalised: that happens after scales are summed)."""
        cams = F.relu(self.classifier(self.backbone(images)))
        return F.interpolate(cams, images.shape[-2:], mode="bilinear", align_corners=False)

    def head_parameters(self):
        return list(self.classifier.parameters())
