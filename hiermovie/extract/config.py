"""Stage-1 configs: the Slow-D backbone and its pretraining, and event-feature extraction."""

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class BackboneConfig:
    # architecture: Slow-D = pytorchvideo create_resnet with a denser 16x4 input (paper sec. 3.1, CVRL)
    depth: int = 50  # ResNet depth; pytorchvideo builds 50, 101 or 152
    stem_dim_out: int = 64  # stem width; stages widen from it, res5 has stem_dim_out * 32 channels
    stem_kernel: tuple[int, int, int] = (5, 7, 7)  # conv1 temporal kernel 5 (paper sec. 3.1)
    stem_stride: tuple[int, int, int] = (2, 2, 2)  # temporal stride 2 after conv1 (paper sec. 3.1)
    num_frames: int = 16  # frames per clip: the "16" of 16x4
    sampling_rate: int = 4  # frame step: the "4" of 16x4 (64 frames = VidSitu's 2.13 s event span)
    crop_size: int = 224  # square input crop, pixels
    crop_area: tuple[float, float] = (0.3, 1.0)  # random resized crop, area fraction (CVRL); (1, 1): whole frame
    flip: bool = True  # random left-right flips (CVRL); the benchmark's sets are not mirror-symmetric
    # pretraining (CVRL / MoDist / supervised; shared/notes/lvu_and_backbone.md C, D)
    method: str = "cvrl"  # cvrl | modist | supervised
    projection_dim: int = 128  # contrastive embedding size (CVRL, MoDist heads)
    projection_hidden: int = 2048  # hidden width of the projection MLPs (CVRL, MaCLR: 2048)
    temperature: float = 0.1  # InfoNCE temperature (CVRL, MoDist)
    color_strength: float = 1.0  # colour-jitter strength s (CVRL: 1.0); the toy world's identities are colours
    queue_size: int = 65536  # MoDist key queue length
    # MoDist momentum-encoder update (MaCLR: 0.999 for ~10^5 steps); the key keeps m^t of its state t steps ago,
    # so a run must be long against 1 / (1 - m): 0.999^700 = 0.50 of the random initialisation after 700 steps
    momentum: float = 0.999
    key_bn_groups: int = 2  # MoDist shuffled BN (MoCo sec. 3.3): the key encoders see each rank's batch shuffled,
    # in this many groups with their own BatchNorm statistics, so a key never shares its query's statistics
    motion_input: str = "grey_diff"  # MoDist motion clip: grey_diff | farneback | flow_files (motion.py)
    motion_width_divisor: int = 8  # MoDist motion network: 1/8 of the visual channels (MaCLR BETA_INV 8)
    label_smoothing: float = 0.0  # supervised cross-entropy label smoothing
    batch_size: int = 64  # clips per step, over all ranks
    epochs: int = 400  # paper: 400 epochs on K400
    optimizer: str = "sgd"  # sgd: momentum 0.9, weight decay 1e-6 (CVRL) | adam
    lr: float = 0.32  # peak learning rate of the cosine schedule (CVRL: SGD at 0.32 for batch 1024)

    @property
    def feature_dim(self) -> int:
        """Width of the pooled res5 feature (2048 for the paper's R50)."""
        return self.stem_dim_out * 32


@dataclass(frozen=True)
class ExtractConfig:
    stride_sec: float = 2.0  # long videos: 1, 2 or 3 s windows (Table 2); 10 s clips: VidSitu's 5 events
    dtype: str = "float16"  # feature dtype in the HDF5 shards (float16 or float32)
    compression: str | None = None  # None or "lzf" (never gzip: random reads ~15x slower)
    batch_size: int = 32  # event clips per backbone forward, across videos
    videos_per_shard: int = 64  # shard k holds videos [64k, 64k + 64) of the sorted list, whatever the ranks


BACKBONE_PROFILES = {
    "paper": BackboneConfig(),
    # same builder and code path, small enough to pretrain and extract on 2 CPU cores in minutes:
    # the same 64-frame span sampled 8 x 8, 64 px, widths / 8
    "tiny": BackboneConfig(
        stem_dim_out=16,
        num_frames=8,
        sampling_rate=8,
        crop_size=64,
        crop_area=(1.0, 1.0),  # supervised: no crops, no flips; the contrastive methods: TINY_CONTRASTIVE
        flip=False,
        projection_hidden=256,
        color_strength=0.5,  # see docs/backbone.md "Deviations in `tiny`"
        queue_size=1024,
        momentum=0.99,  # ~700-step runs: 0.99^700 < 0.001 of the initial key weights remain (MoCo-style short runs)
        motion_width_divisor=2,  # the motion stem keeps the paper's 8 channels (16 / 2; paper 64 / 8)
        label_smoothing=0.1,
        batch_size=32,
        epochs=18,
        optimizer="adam",
        lr=0.01,
    ),
}

# what the contrastive methods change in `tiny`: CVRL's crops (area 0.3 to 1) and flips deny them the static
# shortcut of the set's layout (without them CVRL's loss falls to 1.6 of chance 4.14 in 150 steps: two clips
# of a video match by appearance); colour strength stays 0.5 (at CVRL's 1.0 its loss stays at chance, 4.0 after
# 540 steps, at lr 1e-2 and 1e-3). Supervised keeps the profile's (docs/backbone.md). 12 epochs: a
# step costs them 2.5-3.5x a supervised one (two views, key encoders); 12 keep a pretraining near 10 minutes
TINY_CONTRASTIVE = {"crop_area": (0.3, 1.0), "flip": True, "epochs": 12}
METHOD_OVERRIDES = {("tiny", "cvrl"): TINY_CONTRASTIVE, ("tiny", "modist"): TINY_CONTRASTIVE}


def backbone_profile(profile: str, method: str) -> BackboneConfig:
    """The `profile` config for pretraining by `method`, with that method's overrides."""
    return replace(BACKBONE_PROFILES[profile], method=method, **METHOD_OVERRIDES.get((profile, method), {}))


EXTRACT_PROFILES = {
    "paper": ExtractConfig(),
    "tiny": ExtractConfig(batch_size=16, videos_per_shard=16),
}


@dataclass(frozen=True)
class VerbFinetuneConfig:
    """End-to-end verb finetuning of the backbone on VidSitu (paper Table 4; VidSitu SFBase)."""

    epochs: int = 10  # VidSitu trains 10 epochs and keeps the best on valid
    batch_size: int = 8  # clips per step (x 5 events)
    lr: float = 1e-4  # Adam, constant (VidSitu)
    probe_weight_decay: float = 1e-2  # L2 of the linear probe's logistic regression, picked on held-out train clips


VERB_FINETUNE_PROFILES = {
    "paper": VerbFinetuneConfig(),
    "tiny": VerbFinetuneConfig(epochs=3, batch_size=4, lr=1e-3),
}
