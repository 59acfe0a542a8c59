"""`hiermovie ablate`: a grid of TxE pretraining configs x seeds from one cache, each scored by
masked-event retrieval on the validation videos; a resumable record of finished cells and a table
(mean and standard error) in Markdown and CSV. The default grid is the paper's Table 2."""

import json
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from hiermovie.contextualize.config import TxEConfig
from hiermovie.contextualize.pretrain import TxEOptions, pretrain_txe
from hiermovie.device import resolve_device
from hiermovie.errors import InputFileError
from hiermovie.parallel import run_parallel, run_workers
from hiermovie.progress import progress_bar
from hiermovie.results import append_record, mean_se, read_records, slug

METRICS = ("r1", "r5", "median_rank")
# the rows of the paper's Table 2 (mask sizes, token stride, loss, mask sampling), plus the untrained
# TxE that mask prediction must beat; a row is (label, config overrides; None = no training)
TABLE2 = (
    ("random init (no pretraining)", None),
    ("mask {1}", {"mask_sizes": (1,)}),
    ("mask {1, 2}", {"mask_sizes": (1, 2)}),
    ("mask {1, 2, 3}", {"mask_sizes": (1, 2, 3)}),
    ("mask {1, 2, 3, 4}", {"mask_sizes": (1, 2, 3, 4)}),
    ("stride 1 s", {"mask_sizes": (1, 2, 3), "stride_sec": 1.0}),
    ("stride 3 s", {"mask_sizes": (1, 2, 3), "stride_sec": 3.0}),
    ("L2 loss", {"mask_sizes": (1, 2, 3), "loss": "l2"}),
    ("max discrepancy", {"mask_sizes": (1, 2, 3), "mask_sampling": "max_discrepancy"}),
)


@dataclass(frozen=True)
class GridRow:
    label: str
    overrides: dict | None  # None: the untrained model


def load_grid(name_or_path: str) -> list[GridRow]:
    """`table2`, or a JSON / TOML file with rows [{"label": ..., "overrides": {...}}, ...]."""
    if name_or_path == "table2":
        return [GridRow(label, overrides) for label, overrides in TABLE2]
    path = Path(name_or_path)
    try:
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        rows = [GridRow(str(row["label"]), row.get("overrides")) for row in data["rows"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputFileError(
            path, f"not a grid file ({type(error).__name__}: {error}); expected rows of label + overrides"
        ) from None
    fields = set(TxEConfig.__dataclass_fields__)
    for row in rows:
        unknown = set(row.overrides or ()) - fields
        if unknown:
            raise InputFileError(path, f"row {row.label!r}: unknown TxE config fields {sorted(unknown)}")
    return rows


def row_config(base: TxEConfig, row: GridRow) -> TxEConfig:
    """The config of one grid row (its overrides applied; lists become tuples)."""
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in (row.overrides or {}).items()}
    return replace(base, **overrides)


def ablate(
    base: TxEConfig,
    cache: Path,
    grid: list[GridRow],
    runs: int,
    out: Path,
    options: TxEOptions,
    jobs: int | None = None,
) -> Path:
    """Run every (row, seed) cell not yet in OUT/cells.jsonl, in `jobs` worker processes
    (`parallel.run_workers`); write OUT/table.md and OUT/table.csv."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = out / "cells.jsonl"
    done = {(c["label"], c["seed"]): c for c in read_records(record)}
    rows = {row.label: row for row in grid}
    todo = [(row.label, seed) for row in grid for seed in range(runs) if (row.label, seed) not in done]

    def run(job: tuple[str, int]) -> dict:
        label, seed = job
        untrained = rows[label].overrides is None  # stop before the first step: the metric of a random TxE
        run_options = replace(options, seed=seed, progress=False, max_steps=0 if untrained else options.max_steps)
        summary = pretrain_txe(
            row_config(base, rows[label]), cache, out / "cells" / f"{slug(label)}_seed{seed}", run_options
        )
        return {"label": label, "seed": seed, **{k: summary[k] for k in METRICS}}

    bar = progress_bar(total=len(todo), desc="ablate", unit="cell", enabled=options.progress)
    for job, cell in run_parallel(run, todo, run_workers(resolve_device(options.device), jobs)):
        append_record(record, cell)  # one line per finished cell: the resume record
        done[job] = cell
        bar.update()
    bar.close()
    return _write_tables(out, grid, done, runs)


def _write_tables(out: Path, grid: list[GridRow], cells: dict, runs: int) -> Path:
    header = ["row", *(f"{m} mean" for m in METRICS), *(f"{m} se" for m in METRICS), "runs"]
    csv_lines, md_lines = (
        [",".join(header)],
        [
            "| row | R@1 (%) | R@5 (%) | median rank | runs |",
            "|---|---|---|---|---|",
        ],
    )
    for row in grid:
        summary = {m: mean_se([cells[(row.label, s)][m] for s in range(runs)]) for m in METRICS}
        mean = {m: summary[m][0] for m in METRICS}
        se = {m: summary[m][1] for m in METRICS}
        csv_lines.append(
            ",".join(
                [f'"{row.label}"', *(f"{mean[m]:.6g}" for m in METRICS), *(f"{se[m]:.6g}" for m in METRICS), str(runs)]
            )
        )
        md_lines.append(
            f"| {row.label} | {100 * mean['r1']:.2f} ± {100 * se['r1']:.2f} | "
            f"{100 * mean['r5']:.2f} ± {100 * se['r5']:.2f} | "
            f"{mean['median_rank']:.1f} ± {se['median_rank']:.1f} | {runs} |"
        )
    (out / "table.csv").write_text("\n".join(csv_lines) + "\n")
    (out / "table.md").write_text("\n".join(md_lines) + "\n")
    return out / "table.md"
