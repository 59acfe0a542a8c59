"""Stage-1 commands: `backbone pretrain | finetune-verbs | probe` and `extract`."""

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hiermovie.cli.common import (
    AutoWorkersOption,
    CheckpointOption,
    Device,
    DeviceOption,
    EpochsOption,
    InitOption,
    MaxStepsOption,
    Profile,
    ProfileOption,
    SeedOption,
    WorkersOption,
    overridden,
    run,
)

app = typer.Typer()
backbone_app = typer.Typer(help="Pretrain, finetune or probe the Slow-D backbone.", no_args_is_help=True)


class Method(StrEnum):
    cvrl = "cvrl"
    modist = "modist"
    supervised = "supervised"


class Motion(StrEnum):
    grey_diff = "grey_diff"
    farneback = "farneback"
    flow_files = "flow_files"


@backbone_app.command("pretrain")
def backbone_pretrain(
    data: Annotated[Path, typer.Option(help="Videos: a folder of class folders, or a `path label` list.")],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint.pt, log.jsonl, loss.png (resumed if present).")],
    method: Annotated[Method, typer.Option(help="cvrl | modist | supervised.")] = Method.cvrl,
    profile: ProfileOption = Profile.paper,
    epochs: EpochsOption = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Clips per step over all ranks [default: the profile's].")
    ] = None,
    motion: Annotated[
        Motion | None,
        typer.Option(
            help="MoDist motion input: colourless grey differences, Farneback flow or flow files "
            "[default: the profile's]."
        ),
    ] = None,
    flow_dir: Annotated[Path | None, typer.Option(help="{video stem}.npy flow files (--motion flow_files).")] = None,
    init: InitOption = None,
    device: DeviceOption = Device.auto,
    workers: AutoWorkersOption = None,
    seed: SeedOption = 0,
    max_steps: MaxStepsOption = None,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Save every N steps (and every epoch).")] = 50,
    strict: Annotated[bool, typer.Option(help="Fail on an unreadable video instead of skipping it.")] = False,
    memory_gib: Annotated[
        float,
        typer.Option(
            min=0,
            help="Decode every video once into memory when all its frames fit in this many GiB (one process, "
            "--workers unset); 0 decodes at every step.",
        ),
    ] = 4.0,
) -> None:
    """Pretrain Slow-D: CVRL, MoDist or supervised (torchrun-ready)."""
    from hiermovie.extract.config import backbone_profile
    from hiermovie.extract.pretrain import PretrainOptions, pretrain

    config = overridden(
        backbone_profile(profile.value, method.value),
        epochs=epochs,
        batch_size=batch_size,
        motion_input=motion and motion.value,
    )
    options = PretrainOptions(
        device=device.value,
        workers=workers,
        seed=seed,
        strict=strict,
        max_steps=max_steps,
        memory_gib=memory_gib,
        flow_dir=flow_dir,
        init=init,
        checkpoint_every=checkpoint_every,
    )
    result = run(pretrain, config, data, out, options)
    typer.echo(
        f"{result['checkpoint']}: step {result['step']}, loss {result.get('loss', float('nan')):.4f}, "
        f"{result['skipped']} unreadable videos skipped (listed in {out / 'skipped.txt'})"
    )


@backbone_app.command("finetune-verbs")
def backbone_finetune_verbs(
    vidsitu: Annotated[Path, typer.Option(help="VidSitu root (vidsitu_annotations/, vsitu_video_trimmed_dir/).")],
    out: Annotated[Path, typer.Option(help="Run folder (resumed if present).")],
    backbone: CheckpointOption = None,
    init: InitOption = None,
    profile: ProfileOption = Profile.paper,
    epochs: EpochsOption = None,
    device: DeviceOption = Device.auto,
    workers: WorkersOption = 2,
    seed: SeedOption = 0,
    max_steps: MaxStepsOption = None,
) -> None:
    """Finetune backbone + verb head on VidSitu verbs."""
    from hiermovie.extract.config import BACKBONE_PROFILES, VERB_FINETUNE_PROFILES
    from hiermovie.extract.verbs import VerbRunOptions, finetune_verbs

    config = overridden(VERB_FINETUNE_PROFILES[profile.value], epochs=epochs)
    options = VerbRunOptions(device=device.value, workers=workers, seed=seed, max_steps=max_steps)
    result = run(finetune_verbs, BACKBONE_PROFILES[profile.value], config, vidsitu, out, backbone, init, options)
    typer.echo(_verb_line(result))


@backbone_app.command("probe")
def backbone_probe(
    vidsitu: Annotated[Path, typer.Option(help="VidSitu root (vidsitu_annotations/, vsitu_video_trimmed_dir/).")],
    backbone: CheckpointOption = None,
    init: InitOption = None,
    profile: ProfileOption = Profile.paper,
    device: DeviceOption = Device.auto,
    workers: WorkersOption = 2,
    seed: SeedOption = 0,
    out: Annotated[Path | None, typer.Option(help="Also write the metrics to this JSON file.")] = None,
) -> None:
    """Linear verb probe on frozen pooled features."""
    import json

    from hiermovie.extract.config import BACKBONE_PROFILES, VERB_FINETUNE_PROFILES
    from hiermovie.extract.verbs import VerbRunOptions, probe_verbs

    options = VerbRunOptions(device=device.value, workers=workers, seed=seed)
    metrics = run(
        probe_verbs,
        BACKBONE_PROFILES[profile.value],
        VERB_FINETUNE_PROFILES[profile.value],
        vidsitu,
        backbone,
        init,
        options,
    )
    if out is not None:
        out.write_text(json.dumps(metrics, indent=1))
    typer.echo(_verb_line(metrics))


def _verb_line(metrics: dict) -> str:
    from hiermovie.results import format_percent  # "-" for an undefined Rec@5

    return (
        f"verbs on valid: Acc@1 {format_percent(metrics['acc1'])}, Acc@5 {format_percent(metrics['acc5'])}, "
        f"Rec@5 {format_percent(metrics['rec5'])} (over {int(metrics['rec5_verbs'])} verbs)"
    )


class Dtype(StrEnum):
    float16 = "float16"
    float32 = "float32"


@app.command()
def extract(
    backbone: Annotated[Path, typer.Option(help="A hiermovie backbone checkpoint (`backbone pretrain` output).")],
    data: Annotated[Path, typer.Option(help="A benchmark folder, any folder of videos, or a list of video paths.")],
    out: Annotated[Path, typer.Option(help="Cache folder (resumed if present).")],
    stride: Annotated[
        float | None, typer.Option(min=0, help="Window of long videos in s [default: the profile's, 2 s].")
    ] = None,
    profile: ProfileOption = Profile.paper,
    dtype: Annotated[Dtype, typer.Option(help="Feature dtype in the shards.")] = Dtype.float16,
    lzf: Annotated[bool, typer.Option(help="Compress shards with lzf (never gzip: slow random reads).")] = False,
    instances: Annotated[Path | None, typer.Option(help="Folder of {video id}.json instance tracks.")] = None,
    videos_per_shard: Annotated[
        int | None, typer.Option(min=1, help="Videos per shard [default: the profile's].")
    ] = None,
    device: DeviceOption = Device.auto,
    workers: WorkersOption = 2,
    strict: Annotated[bool, typer.Option(help="Stop at an unreadable video instead of recording it.")] = False,
) -> None:
    """Extract event features into HDF5 shards (torchrun-ready)."""
    from hiermovie.extract.config import EXTRACT_PROFILES
    from hiermovie.extract.featurize import ExtractOptions, extract, summary_line

    config = overridden(EXTRACT_PROFILES[profile.value], stride_sec=stride, videos_per_shard=videos_per_shard)
    config = replace(config, dtype=dtype.value, compression="lzf" if lzf else None)
    options = ExtractOptions(device=device.value, workers=workers, strict=strict, instances=instances)
    typer.echo(summary_line(run(extract, backbone, data, out, config, options), out))
