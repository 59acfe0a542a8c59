"""Slow-D: the 3D ResNet-50 of the paper (CVRL's "R3D-50"), built with pytorchvideo's `create_resnet`.

`create_slow_d` holds the hyperparameters; `SlowD` only wraps the finished pytorchvideo `Net` (built
without a head) and adds the global average pool. The state dict therefore has pytorchvideo's key names
under `net.`, and `weights.load_pretrained_backbone` loads released checkpoints into `SlowD.net`.
"""

import torch
from torch import nn

from hiermovie.extract.config import BackboneConfig
from hiermovie.extract.pytorchvideo_shim import create_resnet

# temporal kernel of every block's conv_a per stage (res2, res3, res4, res5): the Slow pathway pattern of
# CVRL and MaCLR, which is also pytorchvideo's default; conv_b is always 1x3x3
SLOW_CONV_A_KERNELS = ((1, 1, 1), (1, 1, 1), (3, 1, 1), (3, 1, 1))


class SlowD(nn.Module):
    """A headless pytorchvideo ResNet `net` (stem + res2..res5) followed by global average pooling.

    Works on contiguous and `torch.channels_last_3d` inputs alike.

    Shape:
        clips: (B, C, T, H, W)
        forward_features: (B, feature_dim, T', H', W'), the res5 map
        forward: (B, feature_dim)
    """

    def __init__(self, *, net: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.net = net
        self.feature_dim = feature_dim

    def forward_features(self, clips: torch.Tensor) -> torch.Tensor:
        return self.net(clips)  # (B, D, T', H', W')

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        features = self.forward_features(clips)  # (B, D, T', H', W')
        return features.mean(dim=(2, 3, 4))  # (B, D); no .view, so any memory format works


def create_slow_d(config: BackboneConfig, *, width_divisor: int = 1, in_channels: int = 3) -> SlowD:
    """Build Slow-D from `config` (depth, stem width, stem kernel and stride), without a classifier.

    `width_divisor` divides every width and keeps the layout: 8 gives MoDist's motion network (1/8 of
    the channels); `in_channels` is 3 for RGB, 2 for optical flow. Paper profile at 16 x 224 x 224:

    ::

        clip                                                        (B, 3, 16, 224, 224)
          |
          v
        stem: conv 5x7x7 stride 2x2x2, BN, ReLU,
              max-pool 1x3x3 stride 1x2x2                           (B, 64, 8, 56, 56)
          |
          v
        res2: 3 bottlenecks, conv_a 1x1x1                           (B, 256, 8, 56, 56)
          |
          v
        res3: 4 bottlenecks, conv_a 1x1x1, spatial stride 2         (B, 512, 8, 28, 28)
          |
          v
        res4: 6 bottlenecks, conv_a 3x1x1, spatial stride 2         (B, 1024, 8, 14, 14)
          |
          v
        res5: 3 bottlenecks, conv_a 3x1x1, spatial stride 2         (B, 2048, 8, 7, 7)   forward_features
          |
          v
        global average over T', H', W'                              (B, 2048)            forward

    Bottlenecks are 1x1 (conv_a, temporal kernel above) -> 1x3x3 (conv_b, carries the spatial stride)
    -> 1x1x1 (conv_c, 4x wider). The only temporal stride is the stem's. 31.67 M parameters at depth 50.
    """
    if width_divisor < 1 or config.stem_dim_out % width_divisor:
        raise ValueError(f"width_divisor {width_divisor} must divide stem_dim_out {config.stem_dim_out}")
    stem_dim_out = config.stem_dim_out // width_divisor
    net = create_resnet(
        input_channel=in_channels,
        model_depth=config.depth,
        stem_dim_out=stem_dim_out,
        stem_conv_kernel_size=config.stem_kernel,
        stem_conv_stride=config.stem_stride,
        stage_conv_a_kernel_size=SLOW_CONV_A_KERNELS,
        head=None,
    )
    # res2 is 4 x the stem width and each later stage doubles it: res5 is 4 * 2**3 = 32 x the stem width
    return SlowD(net=net, feature_dim=stem_dim_out * 32)
