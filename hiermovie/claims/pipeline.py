"""`hiermovie claims` / `make claims`: from one measuring-size benchmark, the table groups of the paper's
claims (`config.TABLE_GROUPS`), each resumable on its own, then OUT/claims.md and OUT/claims.json over
every group run so far. Groups share their steps (benchmark, backbones, caches, TxEs): each step is made on
first need and reused while its code is current (`versions.Ledger`); a step made by other code is refused
(or redone with `redo_stale`), and the report leaves it out. Each group's wall time is printed and appended
to OUT/groups.jsonl with the code versions it ran with."""

import json
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from hiermovie.claims.config import TABLE_GROUPS, ClaimsConfig
from hiermovie.claims.report import CLAIMS_SOURCES, Results, write_claims
from hiermovie.claims.stage1 import BACKBONES, ClaimsRun, backbone_inputs
from hiermovie.claims.stage2 import TABLE_RUNS, floors
from hiermovie.claims.versions import STAGES, Ledger, code_versions, input_digests
from hiermovie.datasets.config import SYNTH_SIZES
from hiermovie.datasets.synth.generate import generate
from hiermovie.profiles import choose_profile
from hiermovie.results import append_record, claim_folder, read_records

GROUPS_RECORD = "groups.jsonl"


def run_claims(
    out: Path,
    config: ClaimsConfig | None = None,
    tables: tuple[str, ...] = tuple(TABLE_GROUPS),
    device: str = "auto",
    redo_stale: bool = False,
    jobs: int | None = None,
    progress: bool = True,
) -> Path:
    """Run (or resume) the table groups `tables` in `out`; write OUT/claims.md and OUT/claims.json."""
    out, config = Path(out), config or ClaimsConfig()
    # seed counts may grow between calls (runs are added); the benchmark and the training settings may not
    claim_folder(out, {k: v for k, v in asdict(config).items() if not k.endswith(("_runs", "_seeds"))})
    (out / "config.json").write_text(json.dumps(asdict(config), indent=1))
    started = time.perf_counter()
    synth = replace(choose_profile(SYNTH_SIZES, config.size), seed=config.seed)
    manifest = generate(synth, out / "data", jobs)
    benchmark_seconds = time.perf_counter() - started  # ~0 when the benchmark was there: counted in the first group
    run = ClaimsRun(out, config, current_ledger(out, redo_stale), device, progress)
    for group in tables:
        started = time.perf_counter() - benchmark_seconds
        TABLE_RUNS[group](run)
        seconds = time.perf_counter() - started
        record = {"group": group, "finished": _now(), "seconds": round(seconds, 1), "config": asdict(config)}
        record |= {"benchmark_seconds": round(benchmark_seconds, 1), "versions": _stage_versions(run.ledger.versions)}
        append_record(out / GROUPS_RECORD, record)
        if progress:
            print(
                f"claims: table group {group} ({TABLE_GROUPS[group]}) took {seconds / 60:.1f} min "
                f"(the benchmark {benchmark_seconds / 60:.1f} min of it)",
                flush=True,
            )
        benchmark_seconds = 0.0
    return write_report(out, run.ledger, config, manifest)


def current_ledger(out: Path, redo_stale: bool = False) -> Ledger:
    """The step ledger of the claims run in `out` against the current code and benchmark."""
    data = Path(out) / "data"
    return Ledger(out, code_versions(input_digests(data, backbone_inputs(data))), redo_stale)


def write_report(out: Path, ledger: Ledger, config: ClaimsConfig, manifest: dict) -> Path:
    """OUT/claims.md from every current step; stale ones are left out and named in the header."""
    scores = out / "grid_scores" / "scores.json"
    grid = json.loads(scores.read_text()) if scores.is_file() and ledger.is_current(scores.parent, "tasks") else {}

    def current(folder: str) -> bool:
        return ledger.is_current(out / "tasks" / folder, "tasks")

    results = Results(out, CLAIMS_SOURCES, grid, config.backbone_seeds, current)
    return write_claims(out, results, floors(out / "data"), _header(out, ledger, config, manifest))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _stage_versions(versions: dict) -> dict[str, str]:
    return {name: entry["version"] for name, entry in versions.items()}


def _header(out: Path, ledger: Ledger, config: ClaimsConfig, manifest: dict) -> str:
    records = read_records(out / GROUPS_RECORD)
    last = {record["group"]: record for record in records}
    now = _stage_versions(ledger.versions)
    lines = [
        "# The paper's claims on the embedded benchmark",
        "",
        f"Benchmark `{config.size}` (seed {config.seed}): {manifest['video_seconds']:.0f} s of video, "
        f"{manifest['bytes'] / 2**20:.1f} MiB. Backbones: tiny Slow-D ({', '.join(BACKBONES)}), "
        f"{config.backbone_seeds} backbone seeds; seeds: {config.backbone_head_runs} verb-head seeds per backbone "
        f"seed, {config.vidsitu_runs} per relation row, {config.srl_runs} per SRL row, {config.lvu_runs} per LVU "
        f"row, {config.grid_runs} per Table 2 cell. Verdicts by the 2 s.e. rule on paired differences over the "
        "same seeds (backbone seeds where backbones are compared): reproduced (beyond 2 s.e. in the paper's "
        "direction; for ≈ claims: the 2 s.e. interval within 5% of the compared row's mean), not resolved, "
        "contradicted; not measured where a row was not run (or is stale).",
        "",
        "| table group | what | last run | wall time (the calls at that code) | code |",
        "|---|---|---|---|---|",
    ]
    total = 0.0
    for group, what in TABLE_GROUPS.items():
        record = last.get(group)
        if record is None:
            lines.append(f"| {group} | {what} | not run | - | - |")
            continue
        changed = [stage for stage in STAGES if record["versions"].get(stage) != now[stage]]
        code = "current" if not changed else f"stale: {', '.join(changed)} changed since"
        calls = [r for r in records if r["group"] == group and r["versions"] == record["versions"]]
        minutes = sum(r["seconds"] for r in calls) / 60
        total += minutes
        lines.append(f"| {group} | {what} | {record['finished']} | {minutes:.1f} min ({len(calls)}) | {code} |")
    lines += [f"| **all groups run** | | | **{total:.1f} min** | |", ""]
    return "\n".join(lines)
