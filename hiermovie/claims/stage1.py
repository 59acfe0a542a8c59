"""The claims run's stage 1: the tiny Slow-D pretrained by each method on the benchmark's Kinetics-style
clips (plus CVRL continued on the VidSitu train clips, the paper's CVRL+VS, and a random initialisation) for
each backbone seed, then one event cache per backbone. Every step is made once, on first need, and reused
while its code is current (`versions.Ledger`)."""

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from hiermovie.checkpoint import save_checkpoint
from hiermovie.claims.config import ClaimsConfig
from hiermovie.claims.versions import Ledger
from hiermovie.datasets.benchmark import BenchmarkLayout
from hiermovie.datasets.synth.oracle import ORACLE_PARTS, write_oracle_cache
from hiermovie.datasets.vidsitu import load_vidsitu
from hiermovie.extract.backbone import create_slow_d
from hiermovie.extract.config import EXTRACT_PROFILES, backbone_profile
from hiermovie.extract.featurize import ExtractOptions, extract
from hiermovie.extract.pretrain import CHECKPOINT_KIND, PretrainOptions, pretrain
from hiermovie.results import slug

# Table 4's backbones; "+VS" continues the CVRL run on the VidSitu train clips (paper: CVRL-K400+VS)
BACKBONES = ("random init", "supervised", "cvrl", "modist", "cvrl+VS")
LVU_BACKBONE = "cvrl"  # the paper's LVU rows and MaskPred TxEs read a CVRL-K400 backbone (Tables 1, 5)


@dataclass(frozen=True)
class ClaimsRun:
    """Where a claims run keeps its steps, and how it runs them."""

    out: Path
    config: ClaimsConfig
    ledger: Ledger
    device: str = "auto"
    progress: bool = True

    @property
    def data(self) -> Path:
        return self.out / "data"


def backbone_config(config: ClaimsConfig, method: str = "supervised"):
    """The tiny Slow-D profile for `method` at the claims run's batch size (and epochs, when set)."""
    tiny = backbone_profile("tiny", method)
    return replace(tiny, epochs=config.backbone_epochs or tiny.epochs, batch_size=config.backbone_batch_size)


def backbone_inputs(data: Path) -> list[Path]:
    """The files the backbones train on: the Kinetics-style train clips and the VidSitu train clips (+VS)."""
    layout = BenchmarkLayout(data)
    kinetics = sorted(path for path in layout.kinetics("train").rglob("*") if path.is_file())
    return kinetics + [clip.video_path for clip in load_vidsitu(layout.vidsitu, "train").clips]


def backbone(run: ClaimsRun, name: str, seed: int) -> Path:
    """The checkpoint of backbone `name` pretrained with `seed` (pretrained now unless it is done)."""
    folder = run.ledger.claim(run.out / "backbone" / f"{slug(name)}_seed{seed}", "backbones")
    checkpoint = folder / "checkpoint.pt"
    if name == "random init":
        if not checkpoint.is_file():
            torch.manual_seed(seed)
            config = backbone_config(run.config)
            weights = create_slow_d(config).state_dict()
            save_checkpoint(checkpoint, kind=CHECKPOINT_KIND, config=config, step=0, backbone=weights)
        return checkpoint
    if (folder / "summary.json").is_file():
        return checkpoint
    layout = BenchmarkLayout(run.data)
    options = PretrainOptions(device=run.device, seed=seed, progress=run.progress)
    if name == "cvrl+VS":
        listing = run.out / "backbone" / "vidsitu_train.txt"  # `path label` lines, one dummy class
        clips = load_vidsitu(layout.vidsitu, "train").clips
        listing.write_text("".join(f"{clip.video_path.resolve()} 0\n" for clip in clips))
        config = replace(backbone_config(run.config, "cvrl"), epochs=run.config.vs_backbone_epochs)
        pretrain(config, listing, folder, replace(options, init=backbone(run, "cvrl", seed)))
    else:
        pretrain(backbone_config(run.config, name), layout.kinetics("train"), folder, options)
    return checkpoint


def vidsitu_cache(run: ClaimsRun, name: str, seed: int) -> Path:
    """The VidSitu cache (1 s stride, VidSitu's 5 events) of backbone `name`, seed `seed`."""
    checkpoint = backbone(run, name, seed)
    cache = run.ledger.claim(run.out / "cache" / f"{slug(name)}_seed{seed}", "caches")
    if not (cache / "manifest.json").is_file():
        layout = BenchmarkLayout(run.data)
        extract(checkpoint, layout.vidsitu / "vsitu_video_trimmed_dir", cache, _extract_config(), _options(run))
    return cache


def lvu_cache(run: ClaimsRun) -> Path:
    """The LVU movies' cache (LVU_BACKBONE, backbone seed 0, 1 s windows, with instance features)."""
    checkpoint = backbone(run, LVU_BACKBONE, 0)
    cache = run.ledger.claim(run.out / "cache" / "lvu", "caches")
    if not (cache / "manifest.json").is_file():
        layout = BenchmarkLayout(run.data)
        options = replace(_options(run), instances=layout.lvu_instances)
        extract(checkpoint, layout.lvu_videos, cache, _extract_config(), options)
    return cache


def oracle_cache(run: ClaimsRun, part: str | None = None) -> Path:
    """The oracle cache of the benchmark's ground truth (the ceiling of every task), or of one of its
    ORACLE_PARTS (what decides a relation: the verbs, or the characters)."""
    name = "oracle" if part is None else f"oracle_{slug(part)}"
    cache = run.ledger.claim(run.out / "cache" / name, "caches")
    write_oracle_cache(run.data, cache, parts=None if part is None else ORACLE_PARTS[part])
    return cache


def _extract_config():
    return replace(EXTRACT_PROFILES["tiny"], stride_sec=1.0)


def _options(run: ClaimsRun) -> ExtractOptions:
    return ExtractOptions(device=run.device, progress=run.progress)
