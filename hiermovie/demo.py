"""`hiermovie demo` / `make demo`: every stage built so far, on the embedded benchmark, ending in one
report folder (report.md plus PNG figures). Stages already done are reused."""

import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # pyplot-free: no display backend needed

from hiermovie.cache import EventCache
from hiermovie.claims.report import DEMO_SOURCES, Results, claims_markdown, evaluate_claims
from hiermovie.contextualize.ablate import TABLE2, GridRow, ablate
from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.data import VideoChoice
from hiermovie.contextualize.export import export_cache
from hiermovie.contextualize.pretrain import TxEOptions, pretrain_txe
from hiermovie.datasets.benchmark import BenchmarkLayout, CheckReport, check_benchmark
from hiermovie.datasets.config import SYNTH_SIZES
from hiermovie.datasets.lvu import LVU_TASKS, class_names, load_lvu_task
from hiermovie.datasets.synth.generate import generate
from hiermovie.datasets.vidsitu import EVENTS, VidSituClip, load_vidsitu
from hiermovie.demo_figures import embedding_figures
from hiermovie.extract.config import EXTRACT_PROFILES, VERB_FINETUNE_PROFILES, backbone_profile
from hiermovie.extract.featurize import ExtractOptions, extract
from hiermovie.extract.pretrain import PretrainOptions, pretrain
from hiermovie.extract.verbs import VerbRunOptions, probe_backbones
from hiermovie.profiles import choose_profile
from hiermovie.results import format_percent, read_records
from hiermovie.tasks.config import TASK_PROFILES
from hiermovie.tasks.feature_probe import probe_event_features, probe_table
from hiermovie.tasks.runs import ALL_TASKS, TaskOptions, run_tasks
from hiermovie.video.decode import probe_video, read_frames
from hiermovie.video.windows import center_frame, vidsitu_windows

DEMO_TASK_RUNS = 2  # seeds per task row in the demo, for a mean and an s.e. (the paper: 10 for VidSitu, 5 for LVU;
# `make tasks`: 5; `make claims` measures)
DEMO_GRID = ("random init (no pretraining)", "mask {1, 2, 3}", "L2 loss")  # rows of the paper's Table 2
DEMO_GRID_RUNS = 2
# the demo's backbone: supervised pretraining is the one that learns verbs on the benchmark in the tiny
# budget (docs/backbone.md "Backbone pretraining on the benchmark": probes of every method)
DEMO_BACKBONE = "supervised"
# 6 of the tiny profile's 18 epochs (522 steps of 32 clips, about 1.5 minutes on 2 cores; `make claims` and
# `make table4` keep 18)
DEMO_BACKBONE_EPOCHS = 6


def run_demo(out: Path, size: str = "demo", seed: int = 0, jobs: int | None = None) -> Path:
    """Run every stage on the benchmark under `out/data` (reusing finished ones); write `out/report.md`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def timed(stage: str, function, *args):
        started = time.perf_counter()
        result = function(*args)
        timings[stage] = time.perf_counter() - started
        return result

    tiny = size == "tiny"
    manifest = timed("data", generate, replace(choose_profile(SYNTH_SIZES, size), seed=seed), out / "data", jobs)
    check = timed("check", check_benchmark, out / "data", 16 if manifest["config"]["frame_code"] else 0)
    backbone = timed("backbone", _backbone_stage, out, BenchmarkLayout(out / "data"), tiny)
    cache = timed("extract", _extract_stage, out)
    txe = timed("txe", _txe_stage, out, tiny)
    ablation = timed("ablate", _ablate_stage, out, tiny)
    tables = timed("tasks", _tasks_stage, out, tiny)
    figures = timed("figures", embedding_figures, out / txe["export"], BenchmarkLayout(out / "data").vidsitu, out)
    carried = timed("probes", probe_event_features, out / "cache", out / "data")
    sections = (
        _backbone_report(backbone)
        + _cache_report(cache)
        + _txe_report(txe)
        + _ablation_report(ablation)
        + _tasks_report(tables, tiny)
        + _figures_report(figures, carried, out)
        + _claims_report(out)
    )
    report = out / "report.md"
    report.write_text(_report(out, manifest, check, timings) + sections)
    return report


def _ablate_stage(out: Path, tiny_benchmark: bool) -> Path:
    """A small Table 2 grid (random TxE, mask sizes {1, 2, 3}, the L2 loss) x 2 seeds; `make ablate` runs all."""
    grid = [GridRow(label, overrides) for label, overrides in TABLE2 if label in DEMO_GRID]
    options = TxEOptions(progress=False, videos=_train_videos(out))
    return ablate(_demo_txe_config(tiny_benchmark), out / "cache", grid, DEMO_GRID_RUNS, out / "ablate_small", options)


def _ablation_report(table: Path) -> str:
    intro = (
        f"A small version of the paper's Table 2 ({DEMO_GRID_RUNS} seeds per row): masked-event retrieval on the "
        "held-out videos after TxE pretraining with each setting (`make ablate` runs the whole grid)."
    )
    return "\n## Ablation: TxE pretraining (Table 2, small)\n\n" + intro + "\n\n" + table.read_text()


def _claims_report(out: Path) -> str:
    """The claims table of `make claims` from the demo's own runs: the claims its one backbone and TxE can
    answer, at demo size (a few seeds, 40 valid clips); the others are "not measured"."""
    grid: dict[str, dict] = {}
    for cell in read_records(out / "ablate_small" / "cells.jsonl"):
        grid.setdefault(cell["label"], {})[cell["seed"]] = {"r1": 100 * cell["r1"]}
    claims = evaluate_claims(Results(out, DEMO_SOURCES, grid))
    intro = (
        f"The claims table of `make claims`, from this demo's runs ({DEMO_TASK_RUNS} seeds, one {DEMO_BACKBONE} "
        "backbone): the claims about other backbones, or comparing two, are not measured here; the rest rest on "
        "too few seeds and clips to tell most differences from noise. **`make claims` is the measurement** "
        "(docs/claims.md)."
    )
    return "\n## The paper's claims at demo size\n\n" + intro + "\n\n" + claims_markdown(claims)


def _figures_report(figures: dict[str, Path], carried: dict, out: Path) -> str:
    lines = [
        "",
        "## Figures",
        "",
        f"Loss curves: backbone ({DEMO_BACKBONE}; dashed: the loss of chance), TxE (event mask prediction), "
        "Object Transformer (masked instances).",
        "",
        "![backbone loss](backbone/loss.png) ![TxE loss](txe/loss.png) "
        "![OT loss](tasks/lvu/object_transformer/loss.png)",
        "",
        "Event embeddings of the VidSitu valid clips, 2-D PCA, coloured by the annotated verb:",
        "",
        f"![raw]({figures['raw'].relative_to(out)}) ![TxE]({figures['contextual'].relative_to(out)})",
        "",
        "What the cached event tokens carry: linear probes fit on the VidSitu train events, scored on valid "
        "(labels: the majority verb, and the most common phrase of the role over the annotations):",
        "",
        probe_table(carried),
        "",
        "Retrieval by TxE embedding: each row is a valid event (red frame) and its nearest events of other clips:",
        "",
        f"![retrieval]({figures['retrieval'].relative_to(out)})",
    ]
    return "\n".join(lines) + "\n"


def _train_videos(out: Path) -> VideoChoice:
    """TxE pretrains on the train splits only, VidSitu's clips and LVU's movies (paper sec. 4)."""
    return VideoChoice(data=out / "data", vidsitu_split="train", lvu_split="train")


def _txe_stage(out: Path, tiny_benchmark: bool) -> dict:
    """Pretrain the tiny TxE on the train videos, score a random TxE the same way, export the embeddings."""
    run, config = out / "txe", _demo_txe_config(tiny_benchmark)
    if not (run / "summary.json").is_file():
        pretrain_txe(config, out / "cache", run, TxEOptions(videos=_train_videos(out)))
    baseline = out / "txe_random" / "summary.json"
    if not baseline.is_file():
        options = TxEOptions(max_steps=0, progress=False, videos=_train_videos(out))
        pretrain_txe(config, out / "cache", baseline.parent, options)
    export = out / "export" / "events.parquet"
    if not export.is_file():
        export_cache(out / "cache", run / "checkpoint.pt", "parquet", export)
    return {
        "trained": json.loads((run / "summary.json").read_text()),
        "random": json.loads(baseline.read_text()),
        "export": export.relative_to(out),
    }


def _demo_txe_config(tiny_benchmark: bool):
    """The tiny TxE; on the test-sized benchmark (a few dozen windows) smaller batches and 2 epochs."""
    config = TXE_PROFILES["tiny"]
    return replace(config, batch_size=8, epochs=2) if tiny_benchmark else config


def _tasks_stage(out: Path, tiny_benchmark: bool) -> Path:
    """VidSitu and LVU tasks from the cache (`make tasks` adds seeds); finished runs are reused."""
    runs = 1 if tiny_benchmark else DEMO_TASK_RUNS
    config = replace(TASK_PROFILES["tiny"], runs=runs, lvu_runs=runs)
    tasks = (out / "cache", out / "data", out / "tasks", out / "txe" / "checkpoint.pt", TXE_PROFILES["tiny"])
    return run_tasks(ALL_TASKS, config, *tasks, TaskOptions())


def _tasks_report(tables: Path, tiny_benchmark: bool) -> str:
    body = tables.read_text().split("\n", 1)[1]  # without its title
    intro = (
        "Task heads trained from the cached tokens (stage 2). VidSitu: the cached backbone features, TxE from "
        "scratch (N) and the mask-prediction TxE above (MaskPred), each fine-tuned with the head, the best epoch "
        "on valid as VidSitu; predictions in VidSitu's format are in `tasks/<task>/predictions/`. LVU: the "
        "instance pathway (Object Transformer over the cached instance features, pretrained by masked-instance "
        "prediction), the scene pathway (the span's sequence of backbone or TxE tokens through an Object "
        "Transformer) and both in one sequence through one Object Transformer (OT++); LVU's span protocol, the "
        "best epoch on val. VidSitu valid clips cut from LVU movies are not scored (paper sec. 4)."
    )
    if tiny_benchmark:
        intro += " The test-sized benchmark runs one seed per row: a smoke run, not a measurement."
    return "\n## Tasks\n\n" + intro + "\n" + body


def _txe_report(txe: dict) -> str:
    trained, random = txe["trained"], txe["random"]
    lines = [
        "",
        "## Contextualizer (stage 2)",
        "",
        f"Tiny TxE pretrained by event mask prediction on {trained['pretrained_on']} ({trained['step']} steps, "
        f"{trained['train_windows']} training windows); masked-event retrieval on the {trained['val_windows']} "
        f"windows of the {trained['val_sources']} held-out source videos (the masked centre token among all of "
        "them, ranked against the targets it was trained to hit, the EMA projection):",
        "",
        "![TxE loss](txe/loss.png)",
        "",
        "| TxE | R@1 (%) | R@5 (%) | median rank |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {100 * m['r1']:.2f} | {100 * m['r5']:.2f} | {m['median_rank']:.0f} |"
        for name, m in (("random init", random), ("mask prediction", trained))
    ]
    lines += ["", f"Raw and contextualized event embeddings exported to `{txe['export']}`."]
    return "\n".join(lines) + "\n"


def _extract_stage(out: Path) -> dict:
    """Extract the benchmark's clips and movies with the demo backbone at 1 s (reused once complete)."""
    cache = out / "cache"
    if not (cache / "manifest.json").is_file():
        config = replace(EXTRACT_PROFILES["tiny"], stride_sec=1.0)
        extract(out / "backbone" / "checkpoint.pt", out / "data", cache, config, ExtractOptions())
    with EventCache(cache) as opened:
        return opened.info()


def _cache_report(info: dict) -> str:
    window = info["provenance"]["window"]
    lines = [
        "",
        "## Event cache (the contract between the stages)",
        "",
        f"`cache/`: {info['videos']} videos, {info['tokens']} event tokens and {info['instances']} instance features "
        f"of {info['dim']} dims in {info['dtype']}, {info['shards']} shards, {info['bytes'] / 2**20:.1f} MiB "
        f"({info['bytes'] / info['tokens'] * 1000 / 1024:.0f} KiB per 1,000 events, instances included); "
        f"{info['failures']} videos failed. Windows: VidSitu's 5 events for the 10-second clips, "
        f"{window['stride_sec']} s for the movies; backbone checkpoint sha256 "
        f"`{info['provenance']['checkpoint_sha256'][:12]}...`.",
    ]
    return "\n".join(lines) + "\n"


def _backbone_stage(out: Path, layout: BenchmarkLayout, tiny_benchmark: bool) -> dict:
    """Pretrain the tiny Slow-D by DEMO_BACKBONE on the Kinetics-style clips (reused once complete), then
    the linear verb probe on it and on a random initialisation. The test-sized benchmark's 14 clips
    take batches of 8."""
    run, config = (
        out / "backbone",
        replace(backbone_profile("tiny", DEMO_BACKBONE), epochs=DEMO_BACKBONE_EPOCHS),
    )
    if tiny_benchmark:
        config = replace(config, batch_size=8)
    if not (run / "summary.json").is_file():
        pretrain(config, layout.kinetics("train"), run, PretrainOptions())
    probes = run / "probe.json"
    if not probes.is_file():
        sources = {"random init": (None, None), DEMO_BACKBONE: (run / "checkpoint.pt", None)}
        probe_config = VERB_FINETUNE_PROFILES["tiny"]
        results = probe_backbones(config, probe_config, layout.vidsitu, sources, VerbRunOptions())
        probes.write_text(json.dumps(results, indent=1))
    return {
        "summary": json.loads((run / "summary.json").read_text()),
        "probes": json.loads(probes.read_text()),
        "epochs": config.epochs,
    }


def _backbone_report(backbone: dict) -> str:
    summary = backbone["summary"]
    lines = [
        "",
        "## Backbone (stage 1)",
        "",
        f"Tiny Slow-D pretrained ({DEMO_BACKBONE}) on the Kinetics-style clips: {summary['step']} steps "
        f"({backbone['epochs']} epochs), final loss {summary['loss']:.3f} "
        f"(chance {summary.get('chance_loss', float('nan')):.3f}), "
        f"{summary['skipped']} videos skipped.",
        "",
        "![backbone loss](backbone/loss.png)",
        "",
        "Linear verb probe on frozen pooled features (VidSitu valid of the benchmark, 16x4 event clips):",
        "",
        "| backbone | Acc@1 | Acc@5 | Rec@5 |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {format_percent(m['acc1'])} | {format_percent(m['acc5'])} | {format_percent(m['rec5'])} |"
        for name, m in backbone["probes"].items()
    ]
    return "\n".join(lines) + "\n"


def _report(out: Path, manifest: dict, check: CheckReport, timings: dict[str, float]) -> str:
    layout = BenchmarkLayout(out / "data")
    valid = load_vidsitu(layout.vidsitu, "valid")
    train = load_vidsitu(layout.vidsitu, "train")
    _plot_verbs(train.clips, out / "verbs.png")
    _plot_clip(valid.clips[0], out / "example_clip.png")
    lines = [
        "# hiermovie demo report",
        "",
        f"Benchmark: size `{manifest['config']['size']}`, seed {manifest['config']['seed']}, in `{layout.root}`.",
        "",
        "## Stages",
        "",
        "| stage | status | wall time |",
        "|---|---|---|",
        f"| data (`hiermovie synth`) | done (generation took {manifest['seconds']:.1f} s) | {timings['data']:.1f} s |",
        f"| check (readers, every video opened, frame codes decoded) | done | {timings['check']:.1f} s |",
        f"| backbone ({DEMO_BACKBONE} pretraining of the tiny Slow-D, linear verb probes) | done | "
        f"{timings['backbone']:.1f} s |",
        f"| extract (event features of every clip and movie into the HDF5 cache) | done | {timings['extract']:.1f} s |",
        f"| txe (event mask prediction from the cache; embeddings exported) | done | {timings['txe']:.1f} s |",
        f"| ablate (a small Table 2 grid of TxE pretraining settings) | done | {timings['ablate']:.1f} s |",
        f"| tasks (VidSitu Tables 4, 1, 3 and LVU Table 5 from the cache) | done | {timings['tasks']:.1f} s |",
        f"| figures (embedding projections, retrieval strips) | done | {timings['figures']:.1f} s |",
        f"| probes (verb, acting character and place from the cached tokens) | done | {timings['probes']:.1f} s |",
        f"| **total** | | **{sum(timings.values()):.1f} s** |",
    ]
    lines += [
        "",
        "## The embedded benchmark",
        "",
        f"{manifest['video_seconds']:.0f} s of H.264 video at {manifest['config']['frame_size']} px, 30 fps; "
        f"{manifest['bytes'] / 2**20:.1f} MiB on disk.",
        "",
        "| part | train | valid / val | test |",
        "|---|---|---|---|",
        f"| VidSitu clips (10 s, 5 events) | {check.vidsitu_clips['train']} | {check.vidsitu_clips['valid']} | "
        f"{check.vidsitu_clips['testvb']} x 3 (vb, srl, evrel) |",
        f"| LVU movies | {check.lvu_records['scene']['train']} | {check.lvu_records['scene']['val']} | "
        f"{check.lvu_records['scene']['test']} |",
        f"| Kinetics-style action clips | {check.kinetics_clips['train']} | {check.kinetics_clips['val']} | |",
        "",
        f"Check: {check.videos_probed} videos opened, {check.frames_verified} frames decoded and matched to their "
        f"drawn frame index ({check.decode_fps:.0f} frames/s).",
        "",
        "### VidSitu part",
        "",
        "Verbs of the training annotations:",
        "",
        "![verbs](verbs.png)",
        "",
        _relation_table(valid.clips),
        "",
        "An example valid clip, one frame at the centre of each event (frames 30, 90, 150, 210, 270):",
        "",
        "![example clip](example_clip.png)",
        "",
        _clip_table(valid.clips[0]),
        "",
        "### LVU part",
        "",
        _lvu_table(layout),
    ]
    return "\n".join(lines) + "\n"


def _relation_table(clips: tuple[VidSituClip, ...]) -> str:
    counts = Counter(
        Counter(a.events[ev].relation for a in clip.annotations[:3]).most_common(1)[0][0]
        for clip in clips
        for ev in ("Ev1", "Ev2", "Ev4", "Ev5")
    )
    rows = " | ".join(f"{name}: {n}" for name, n in counts.most_common())
    return f"Relations to Ev3 on valid (majority of 3 annotators): {rows}."


def _clip_table(clip: VidSituClip) -> str:
    lines = ["| event | verb votes (10 annotators) | roles (first annotator) | EvRel |", "|---|---|---|---|"]
    for ev in EVENTS:
        votes = ", ".join(f"{v} x{n}" for v, n in Counter(clip.verb_ids[ev]).most_common())
        event = clip.annotations[0].events[ev]
        roles = "; ".join(f"{r.role}: {r.text}" for r in event.roles)
        lines.append(f"| {ev} | {votes} | {roles} | {event.relation or ''} |")
    return "\n".join(lines)


def _lvu_table(layout: BenchmarkLayout) -> str:
    lines = ["| task | classes (train counts) |", "|---|---|"]
    for task, num_classes in LVU_TASKS.items():
        records = load_lvu_task(layout.lvu_labels, task, "train")
        if num_classes == 0:
            values = np.array([r.label for r in records])
            lines.append(f"| {task} | regression: shifted target mean {values.mean():.2f}, std {values.std():.2f} |")
            continue
        names = class_names(layout.lvu_labels, task)
        counts = Counter(r.label for r in records)
        lines.append(f"| {task} | " + ", ".join(f"{names[c]} {counts[c]}" for c in sorted(names)) + " |")
    return "\n".join(lines)


def _plot_verbs(clips: tuple[VidSituClip, ...], path: Path) -> None:
    counts = Counter(verb for clip in clips for ev in EVENTS for verb in clip.verb_ids[ev])
    verbs, values = zip(*sorted(counts.items()), strict=True)
    figure = Figure(figsize=(8, 3))
    axis = figure.subplots()
    axis.bar(range(len(verbs)), values, color="#4a7ab0")
    axis.set_xticks(range(len(verbs)), verbs, rotation=45, ha="right", fontsize=8)
    axis.set_ylabel("events")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _plot_clip(clip: VidSituClip, path: Path) -> None:
    info = probe_video(clip.video_path)
    indices = [center_frame(w, info.fps) for w in vidsitu_windows()]
    frames = read_frames(clip.video_path, indices)  # (5, H, W, 3)
    figure = Figure(figsize=(10, 2.4))
    axes = figure.subplots(1, 5)
    for axis, frame, ev in zip(axes, frames, EVENTS, strict=True):
        axis.imshow(frame)
        axis.set_title(f"{ev}: {clip.annotations[0].events[ev].verb_id}", fontsize=9)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
