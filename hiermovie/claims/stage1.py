"""The claims run's stage 1: the tiny Slow-D pretrained by each method on the benchmark's Kinetics-style
clips (plus CVRL continued on the VidSitu train clips, the paper's CVRL+VS, and a random initialisation),
then one event cache per backbone. Every step is skipped once its output is complete (resume)."""

from dataclasses import replace
from pathlib import Path

import torch

from hiermovie.checkpoint import save_checkpoint
from hiermovie.claims.config import ClaimsConfig
from hiermovie.datasets.benchmark import BenchmarkLayout
from hiermovie.datasets.synth.oracle import write_oracle_cache
from hiermovie.datasets.vidsitu import load_vidsitu
from hiermovie.extract.backbone import create_slow_d
from hiermovie.extract.config import EXTRACT_PROFILES, backbone_profile
from hiermovie.extract.featurize import ExtractOptions, extract
from hiermovie.extract.pretrain import CHECKPOINT_KIND, PretrainOptions, pretrain

# Table 4's backbones; "+VS" continues the CVRL run on the VidSitu train clips (paper: CVRL-K400+VS)
BACKBONES = ("random init", "supervised", "cvrl", "modist", "cvrl+VS")
LVU_BACKBONE = "cvrl"  # the paper's LVU rows and MaskPred TxEs read a CVRL-K400 backbone (Tables 1, 5)


def backbone_checkpoint(out: Path, name: str) -> Path:
    """Where the claims run keeps the checkpoint of backbone `name`."""
    return out / "backbone" / name.replace(" ", "_") / "checkpoint.pt"


def backbone_config(config: ClaimsConfig, method: str = "supervised"):
    """The tiny Slow-D profile for `method` at the claims run's epochs and batch size."""
    tiny = backbone_profile("tiny", method)
    return replace(tiny, epochs=config.backbone_epochs, batch_size=config.backbone_batch_size)


def pretrain_backbones(out: Path, data: Path, config: ClaimsConfig, progress: bool) -> dict[str, Path]:
    """Every backbone of BACKBONES, pretrained unless its run is complete; {name: checkpoint}."""
    layout, base = BenchmarkLayout(data), backbone_config(config)
    checkpoints = {name: backbone_checkpoint(out, name) for name in BACKBONES}
    random_init = checkpoints["random init"]
    if not random_init.is_file():
        torch.manual_seed(0)
        weights = create_slow_d(base).state_dict()
        save_checkpoint(random_init, kind=CHECKPOINT_KIND, config=base, step=0, backbone=weights)
    for method in ("supervised", "cvrl", "modist"):
        run = checkpoints[method].parent
        if not (run / "summary.json").is_file():
            method_config = backbone_config(config, method)
            pretrain(method_config, layout.kinetics("train"), run, PretrainOptions(progress=progress))
    continued = checkpoints["cvrl+VS"].parent
    if not (continued / "summary.json").is_file():
        listing = out / "backbone" / "vidsitu_train.txt"  # `path label` lines, one dummy class
        clips = load_vidsitu(layout.vidsitu, "train").clips
        listing.write_text("".join(f"{clip.video_path.resolve()} 0\n" for clip in clips))
        continued_config = replace(backbone_config(config, "cvrl"), epochs=config.vs_backbone_epochs)
        options = PretrainOptions(init=checkpoints["cvrl"], progress=progress)
        pretrain(continued_config, listing, continued, options)
    return checkpoints


def extract_caches(out: Path, data: Path, checkpoints: dict[str, Path], progress: bool) -> dict[str, Path]:
    """A VidSitu cache per backbone, the LVU movies' cache (LVU_BACKBONE, 1 s windows, instances) and the
    oracle cache of the benchmark's ground truth; {name: cache folder}."""
    layout = BenchmarkLayout(data)
    config = replace(EXTRACT_PROFILES["tiny"], stride_sec=1.0)
    options = ExtractOptions(progress=progress)
    caches = {name: out / "cache" / name.replace(" ", "_") for name in BACKBONES}
    for name, cache in caches.items():
        if not (cache / "manifest.json").is_file():
            extract(checkpoints[name], layout.vidsitu / "vsitu_video_trimmed_dir", cache, config, options)
    caches["lvu"] = out / "cache" / "lvu"
    if not (caches["lvu"] / "manifest.json").is_file():
        with_instances = replace(options, instances=layout.lvu_instances)
        extract(checkpoints[LVU_BACKBONE], layout.lvu_videos, caches["lvu"], config, with_instances)
    caches["oracle"] = out / "cache" / "oracle"
    write_oracle_cache(data, caches["oracle"])
    return caches
