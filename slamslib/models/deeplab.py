"""The segmentation network trained on pseudo labels: a backbone and a DeepLab head.

- `aspp_v3`: torchvision's DeepLabV3 head (its ASPP with image pooling, then a 3x3 convolution, BatchNorm,
  the classifier), `channels` wide (256 in DeepLabV3; fewer makes it affordable on a CPU);
- `aspp_v2`: DeepLabV2's classifier, the sum of dilated 3x3 convolutions straight to the classes, what
  most WSSS papers report with.
On the ResNets (output stride 16) this is DeepLabV3/V2 as torchvision builds them, at stride 16."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.segmentation.deeplabv3 import ASPP


def deeplab_v3_head(in_channels: int, num_classes: int, rates, channels: int = 256) -> nn.Sequential:
    """torchvision's DeepLabHead, with the width as a parameter."""
    return nn.Sequential(ASPP(in_channels, rates, channels), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, num_classes, 1))


class DeepLabV2Head(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, rates):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(in_channels, num_classes, 3, padding=r, dilation=r)
                                      for r in rates)
        for branch in self.branches:
            nn.init.normal_(branch.weight, std=0.01)
            nn.init.zeros_(branch.bias)

    def forward(self, x):
        return sum(branch(x) for branch in self.branches)


class SegmentationNet(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int, head: str, rates, channels: int = 256):
        super().__init__()
        self.backbone = backbone
        self.head = (deeplab_v3_head(backbone.out_channels, num_classes, rates, channels) if head == "aspp_v3"
                     else DeepLabV2Head(backbone.out_channels, num_classes, rates))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits at the input size (B x (K+1) x H x W)."""
        logits = self.head(self.backbone(images))
        return F.interpolate(logits, images.shape[-2:], mode="bilinear", align_corners=False)

    def activation_maps(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities, for slamslib.maps.multiscale_maps (summed over scales and flips)."""
        return self(images).float().softmax(1)

    def head_parameters(self):
        return list(self.head.parameters())
