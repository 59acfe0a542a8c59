"""The three backbone pretrainings as small modules: each takes finished views and returns its loss.

- CVRL (Qian et al. 2021): two clips of a video, a 3-layer MLP projection to 128-d, NT-Xent at
  temperature 0.1 with negatives from every rank.
- MoDist (Xiao et al. 2021): a visual and a motion network (1/8 of the channels) on a colourless motion
  clip, MoCo momentum encoders (m = 0.999 at paper length) with shuffled BN, key queues, visual-visual plus
  visual-motion InfoNCE (weight 1.0); each clip draws which of its two views is the query.
- Supervised: cross-entropy on clip labels (the paper's "Sup" rows).

Choices the papers leave open (documented in docs/backbone.md "Slow-D and its pretraining"): MoDist's query/key
pairing (see losses/modist.py), its 2-layer heads without BN (MaCLR's released config), and that
both MoDist views use CVRL's sampler and augmentation.
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from hiermovie.distributed import gather_rows
from hiermovie.extract.backbone import SlowD, create_slow_d
from hiermovie.extract.config import BackboneConfig
from hiermovie.extract.key_queue import KeyQueue
from hiermovie.extract.losses import modist_loss, nt_xent_loss
from hiermovie.extract.motion import MOTION_CHANNELS

METHODS = ("cvrl", "modist", "supervised")
MODIST_MOTION_WEIGHT = 1.0  # w of L_vv + w (L_vm + L_mv): MaCLR CONTRASTIVE_FLOW_WEIGHT


def mlp_projector(in_dim: int, hidden: int, out_dim: int, hidden_layers: int, batch_norm: bool) -> nn.Sequential:
    """`hidden_layers` x [Linear -> (BN) -> ReLU], then Linear to `out_dim`."""
    layers: list[nn.Module] = []
    for i in range(hidden_layers):
        layers.append(nn.Linear(in_dim if i == 0 else hidden, hidden))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden, momentum=0.003))  # CVRL: BN momentum 0.997 in TF terms
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Linear(hidden if hidden_layers else in_dim, out_dim))
    return nn.Sequential(*layers)


class CVRL(nn.Module):
    def __init__(self, *, backbone: SlowD, projector: nn.Module, temperature: float):
        super().__init__()
        self.backbone, self.projector, self.temperature = backbone, projector, temperature

    def forward(self, view_a: torch.Tensor, view_b: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        batch = view_a.shape[0]
        z = F.normalize(self.projector(self.backbone(torch.cat([view_a, view_b]))), dim=1)  # (2B, 128)
        z_a, z_b = z[:batch], z[batch:]  # (B, 128) each
        all_a, offset = gather_rows(z_a)  # (world * B, 128)
        all_b, _ = gather_rows(z_b)
        loss = nt_xent_loss(z_a, z_b, self.temperature, all_a, all_b, offset)
        return loss, {}


class MoDist(nn.Module):
    def __init__(
        self,
        *,
        visual: SlowD,
        motion: SlowD,
        visual_head: nn.Module,
        motion_head: nn.Module,
        queue_size: int,
        temperature: float,
        key_bn_groups: int = 1,
        motion_weight: float = MODIST_MOTION_WEIGHT,
    ):
        super().__init__()
        self.visual, self.motion = visual, motion
        self.visual_head, self.motion_head = visual_head, motion_head
        # momentum copies (MoCo): updated by `update_momentum`, never by the optimiser
        self.visual_key, self.motion_key = copy.deepcopy(visual), copy.deepcopy(motion)
        self.visual_key_head, self.motion_key_head = copy.deepcopy(visual_head), copy.deepcopy(motion_head)
        for module in self._key_modules():
            module.requires_grad_(False)
        dim = self._last_linear(visual_head).out_features
        self.visual_queue, self.motion_queue = KeyQueue(queue_size, dim), KeyQueue(queue_size, dim)
        self.temperature, self.motion_weight = temperature, motion_weight
        if key_bn_groups < 1:
            raise ValueError(f"key_bn_groups must be at least 1, got {key_bn_groups}")
        self.key_bn_groups = key_bn_groups

    @staticmethod
    def _last_linear(head: nn.Module) -> nn.Linear:
        return [m for m in head.modules() if isinstance(m, nn.Linear)][-1]

    def _key_modules(self) -> tuple[nn.Module, ...]:
        return self.visual_key, self.motion_key, self.visual_key_head, self.motion_key_head

    @torch.no_grad()
    def update_momentum(self, momentum: float) -> None:
        """key = m * key + (1 - m) * query, parameter by parameter (MoCo)."""
        pairs = (
            (self.visual, self.visual_key),
            (self.motion, self.motion_key),
            (self.visual_head, self.visual_key_head),
            (self.motion_head, self.motion_key_head),
        )
        for query, key in pairs:
            for q, k in zip(query.parameters(), key.parameters(), strict=True):
                k.mul_(momentum).add_(q.detach(), alpha=1 - momentum)

    def forward(self, view_a, view_b, motion_a, motion_b, key_order) -> tuple[torch.Tensor, dict[str, float]]:
        """Queries from view a and its motion clip, keys from view b and its motion clip; `key_order` (B,) is
        the permutation the key encoders see the batch in (shuffled BN)."""
        q_visual = F.normalize(self.visual_head(self.visual(view_a)), dim=1)  # (B, 128)
        q_motion = F.normalize(self.motion_head(self.motion(motion_a)), dim=1)  # (B, 128)
        with torch.no_grad():
            visual_key = nn.Sequential(self.visual_key, self.visual_key_head)
            motion_key = nn.Sequential(self.motion_key, self.motion_key_head)
            k_visual = F.normalize(
                grouped_forward(visual_key, view_b, key_order, self.key_bn_groups), dim=1
            )  # (B, 128)
            k_motion = F.normalize(grouped_forward(motion_key, motion_b, key_order, self.key_bn_groups), dim=1)
        loss, terms = modist_loss(
            q_visual,
            k_visual,
            q_motion,
            k_motion,
            self.visual_queue(),
            self.motion_queue(),
            self.temperature,
            self.motion_weight,
        )
        if self.training:  # keys of every rank join the queues after the loss (MoCo)
            self.visual_queue.enqueue(gather_rows(k_visual)[0])
            self.motion_queue.enqueue(gather_rows(k_motion)[0])
        return loss, terms


def grouped_forward(network: nn.Module, clips: torch.Tensor, order: torch.Tensor, groups: int) -> torch.Tensor:
    """`network` over `clips` taken in `order` and split into `groups` forwards, each with its own BatchNorm
    statistics, returned in the input order: MoCo's shuffling BN (sec. 3.3) within one process, as its
    single-GPU emulation does. Shape: (B, ...) -> (B, D); `order` (B,) a permutation."""
    shuffled = clips[order]  # (B, ...)
    out = torch.cat([network(chunk) for chunk in shuffled.chunk(groups)])  # (B, D)
    return out[torch.argsort(order)]


class Supervised(nn.Module):
    def __init__(self, *, backbone: SlowD, classifier: nn.Module, label_smoothing: float = 0.0):
        super().__init__()
        self.backbone, self.classifier, self.label_smoothing = backbone, classifier, label_smoothing

    def forward(self, view: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.classifier(self.backbone(view)).float()  # (B, C), the loss in fp32 under autocast
        accuracy = (logits.argmax(1) == labels).float().mean().item()
        return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing), {"accuracy": accuracy}


def build_method(config: BackboneConfig, num_classes: int) -> CVRL | MoDist | Supervised:
    """The pretraining module of `config.method` around a fresh Slow-D."""
    backbone = create_slow_d(config)
    if config.method == "cvrl":  # CVRL: 3 x [Dense 2048 -> BN -> ReLU] -> Dense 128
        projector = mlp_projector(
            backbone.feature_dim, config.projection_hidden, config.projection_dim, 3, batch_norm=True
        )
        return CVRL(backbone=backbone, projector=projector, temperature=config.temperature)
    if config.method == "modist":  # MaCLR ContrastiveCodeHead: Linear(d, 2048) -> ReLU -> Linear(2048, 128)
        motion = create_slow_d(
            config, width_divisor=config.motion_width_divisor, in_channels=MOTION_CHANNELS[config.motion_input]
        )
        return MoDist(
            visual=backbone,
            motion=motion,
            visual_head=mlp_projector(backbone.feature_dim, config.projection_hidden, config.projection_dim, 1, False),
            motion_head=mlp_projector(motion.feature_dim, config.projection_hidden, config.projection_dim, 1, False),
            queue_size=config.queue_size,
            temperature=config.temperature,
            key_bn_groups=config.key_bn_groups,
        )
    if config.method == "supervised":
        classifier = nn.Linear(backbone.feature_dim, num_classes)
        return Supervised(backbone=backbone, classifier=classifier, label_smoothing=config.label_smoothing)
    raise ValueError(f"unknown method {config.method!r}; choose one of: {', '.join(METHODS)}")


def chance_loss(config: BackboneConfig, num_classes: int) -> float:
    """The loss of a network that knows nothing, the line a pretraining must fall well below:
    CVRL ln(2B - 1) (each of 2B views against the other 2B - 1), MoDist (1 + 2w) ln(K + 1) (three
    InfoNCE terms, each the positive among K queued keys), supervised ln(classes)."""
    if config.method == "cvrl":
        return math.log(2 * config.batch_size - 1)
    if config.method == "modist":
        return (1 + 2 * MODIST_MOTION_WEIGHT) * math.log(config.queue_size + 1)
    return math.log(num_classes)


def backbone_of(method: nn.Module) -> SlowD:
    """The Slow-D a pretraining trains (MoDist: its visual query network)."""
    return method.visual if isinstance(method, MoDist) else method.backbone
