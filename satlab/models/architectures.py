"""The three trail networks as plain :class:`torch.nn.Module` s (no I/O, no preprocessing).

Every network takes a float32 batch ``(n, 1, h, w)`` of normalised pixels and returns
*logits*: the sigmoid of the seeds' last layer is applied by the caller
(:mod:`satlab.detect`), so that training can use the numerically stable
``BCEWithLogitsLoss``, which is the seeds' sigmoid + binary cross-entropy in one step.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CosmicUNet", "TrailCNN", "TrailMobileNetV2"]


class TrailMobileNetV2(nn.Module):
    """Seed 001 §2.2: a MobileNetV2 backbone with the paper's classification head.

    Backbone: :func:`torchvision.models.mobilenet_v2` (built with ``weights=None``; no
    download) with its first convolution taking one channel. Head: global average
    pooling -> dropout 0.5 -> dense 1024 + ReLU (L2-regularised through the optimiser's
    weight decay on this layer, see :meth:`l2_parameters`) -> dense 1.

    Parameters
    ----------
    width_mult : float
        MobileNetV2 width multiplier (1.0 in the paper; satlab uses 0.5 for speed).
    hidden : int
        Neurons of the dense layer (1024 in the paper).
    dropout : float
        Dropout rate before the dense layer.
    """

    def __init__(self, *, width_mult: float = 0.5, hidden: int = 1024, dropout: float = 0.5):
        super().__init__()
        from torchvision.models import mobilenet_v2

        backbone = mobilenet_v2(weights=None, width_mult=width_mult)
        first = backbone.features[0][0]
        backbone.features[0][0] = nn.Conv2d(
            1,
            first.out_channels,
            kernel_size=first.kernel_size,
            stride=first.stride,
            padding=first.padding,
            bias=False,
        )
        self.features = backbone.features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(backbone.last_channel, hidden)
        self.out = nn.Linear(hidden, 1)

    def l2_parameters(self) -> list[nn.Parameter]:
        """Parameters the paper regularises with L2 (the 1024-neuron dense layer)."""
        return [self.dense.weight]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        x = torch.relu(self.dense(self.dropout(x)))
        return self.out(x).squeeze(1)


class TrailCNN(nn.Module):
    """Seed 002 §3.1: the AlexNet-like baseline CNN on one square cutout.

    conv 5x5/32 -> ReLU -> max-pool 4 -> conv 4x4/64 -> ReLU -> max-pool 4 -> dense 512
    -> ReLU -> dense 16 -> ReLU -> dense 1. Convolutions are unpadded ("valid").

    Parameters
    ----------
    size : int
        Side of the network input [px] (after any binning of the 128-px cutout).
    """

    def __init__(self, *, size: int = 64):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(4),
            nn.Conv2d(32, 64, 4),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(4),
        )
        side = ((size - 4) // 4 - 3) // 4
        if side < 1:
            raise ValueError(f"size: expected a cutout of at least 32 px, got {size}")
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * side * side, 512),
            nn.ReLU(inplace=True),
            nn.Linear(512, 16),
            nn.ReLU(inplace=True),
            nn.Linear(16, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CosmicUNet(nn.Module):
    """Seed 002 §3.2: the Cosmic-CoNN UNet (``depth`` 2x down/up-sampling stages).

    One 3x3 convolution (+ batch norm + ReLU) per stage, 2x2 max-pooling down, 2x2
    transposed convolutions with stride 2 up, skip connections by concatenation, a 1x1
    output convolution. Height and width must be multiples of ``2 ** depth``.

    Parameters
    ----------
    width : int
        Filters of the full-resolution stage; each coarser stage doubles them (32 and 64
        in the paper).
    depth : int
        Down-sampling stages (the paper: 2; it found one more "without strong impact" on
        its few-px-wide streaks). Each stage doubles the receptive field, which must span
        several widths of a 24-px CHEOPS trail to tell it from smear and ghosts.
    """

    def __init__(self, *, width: int = 32, depth: int = 2):
        super().__init__()
        widths = [width * 2**k for k in range(depth)]
        self.depth = depth
        cin = 1
        for k, w in enumerate(widths, 1):
            setattr(self, f"enc{k}", _conv(cin, w))
            cin = w
        self.bottleneck = _conv(cin, cin)
        for k in range(depth, 0, -1):
            w = widths[k - 1]
            setattr(self, f"up{k}", nn.ConvTranspose2d(cin, w, 2, stride=2))
            setattr(self, f"dec{k}", _conv(2 * w, w))
            cin = w
        self.out = nn.Conv2d(width, 1, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.enc1(x)]
        for k in range(2, self.depth + 1):
            skips.append(getattr(self, f"enc{k}")(self.pool(skips[-1])))
        h = self.bottleneck(self.pool(skips[-1]))
        for k in range(self.depth, 0, -1):
            up = getattr(self, f"up{k}")(h)
            h = getattr(self, f"dec{k}")(torch.cat([up, skips[k - 1]], dim=1))
        return self.out(h).squeeze(1)
