"""Feature extractors: torchvision ResNets at output stride 16, or a small CNN for CPUs.

Every backbone maps B x 3 x H x W to B x C x H/s x W/s and says its C (`out_channels`) and s
(`stride`). ResNets keep their BatchNorm frozen (eval mode, no gradient), as the peers do: batch
statistics of a few crops are noise, and frozen statistics make a multi-process run equal to a
one-process run on the same global batch. The small CNN uses GroupNorm for the same reason, or
BatchNorm (`backbone.norm: batch`), which learns other people's data far better (docs/findings.md §5)
but, on CPUs where torch has no synchronised BatchNorm, keeps one set of statistics per process."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..config import BackboneConfig
from ..errors import SlamsError
from ..paths import resolve


class SmallBackbone(nn.Module):
    """Three stride-2 stages (output stride 8), two 3x3 convolutions each: a ~60 px receptive field,
    enough for the embedded benchmark's objects, trainable from scratch on two CPU cores."""

    def __init__(self, width: int = 32, norm: str = "group"):
        super().__init__()

        def conv(cin, cout, stride=1):
            layer = nn.GroupNorm(8, cout) if norm == "group" else nn.BatchNorm2d(cout)
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), layer, nn.ReLU(True)]
        w = width
        self.body = nn.Sequential(*conv(3, w, 2), *conv(w, w),
                                  *conv(w, 2 * w, 2), *conv(2 * w, 2 * w),
                                  *conv(2 * w, 4 * w, 2), *conv(4 * w, 4 * w), *conv(4 * w, 4 * w))
        self.out_channels, self.stride = 4 * w, 8
        self.low_level = (12, 2 * w)   # body[:12] ends the stride-4 stage: (index, channels)

    def forward(self, x):
        return self.body(x)


class ResNetBackbone(nn.Module):
    def __init__(self, name: str, weights: dict | None):
        super().__init__()
        import torchvision
        net = getattr(torchvision.models, name)(weights=None,
                                               replace_stride_with_dilation=[False, False, True])
        if weights is not None:
            missing, _ = net.load_state_dict(weights, strict=False)
            if [k for k in missing if not k.startswith("fc.")]:
                raise SlamsError(f"the ImageNet weights for {name} lack {len(missing)} tensors "
                                 f"(e.g. {missing[0]}): is the file a torchvision {name} state dict?")
        self.body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                                  net.layer1, net.layer2, net.layer3, net.layer4)
        self.out_channels, self.stride = net.fc.in_features, 16
        self.low_level = (5, net.layer1[-1].conv3.out_channels)   # after layer1: stride 4
        for module in self.body.modules():
            if isinstance(module, nn.BatchNorm2d):
                for p in module.parameters():
                    p.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.body.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self

    def forward(self, x):
        return self.body(x)


def local_weights(cfg: BackboneConfig) -> Path | None:
    """params' `backbone.weights`, checked to exist; None when unset."""
    if cfg.weights is None:
        return None
    path = resolve(cfg.weights)
    if not path.is_file():
        raise SlamsError(f"backbone.weights {str(cfg.weights)!r} is not a file")
    return path


def read_weights(path: Path, what: str) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which
        raise SlamsError(f"cannot read {what} {path} ({exc})") from None


def imagenet_weights(cfg: BackboneConfig) -> dict:
    """ImageNet weights from params' `backbone.weights` or torchvision's cache; never downloaded."""
    import torchvision
    path = local_weights(cfg)
    if path is None:
        enum = torchvision.models.get_model_weights(cfg.name).IMAGENET1K_V1
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        path = cache / Path(enum.url).name
        if not path.is_file():
            raise SlamsError(
                f"backbone.pretrained is true but no ImageNet weights for {cfg.name} are on this "
                f"machine: put {Path(enum.url).name} (from {enum.url}) into {cache}, or set "
                f"backbone.weights to a local .pth file (nothing is downloaded at run time)")
    return read_weights(path, "ImageNet weights")


def build_backbone(cfg: BackboneConfig) -> nn.Module:
    if cfg.name == "small":
        net = SmallBackbone(cfg.width, cfg.norm)
        if cfg.pretrained:
            from ..pretraining import load_pretrained
            try:
                net.load_state_dict(load_pretrained(cfg))
            except RuntimeError as exc:   # another width, or not a small backbone at all
                raise SlamsError(f"the small backbone's pretrained weights do not fit backbone.width="
                                 f"{cfg.width}: {str(exc).splitlines()[0]}") from None
        return net
    return ResNetBackbone(cfg.name, imagenet_weights(cfg) if cfg.pretrained else None)
