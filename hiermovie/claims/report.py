"""The claims table and the task tables with their floor and ceiling rows, from the recorded runs of a claims
run (or of the demo): OUT/claims.md and OUT/claims.json. Pure reading and arithmetic; nothing is trained here."""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hiermovie.claims.verdicts import NOT_MEASURED, against_constant, best_of, paired_difference, verdict
from hiermovie.datasets.lvu import LVU_TASKS
from hiermovie.results import format_mean_se, mean_se
from hiermovie.tasks.lvu_data import rank_rows
from hiermovie.tasks.lvu_runs import TASK_COLUMNS
from hiermovie.tasks.runs import COLUMNS

Seeds = dict[int, float]
# where each logical row of the claims lives: name -> (task group folder under tasks/, task, table row). A
# folder with "{seed}" is one per backbone seed: the row's value for a backbone seed is the mean over that
# folder's head seeds, and claims on it pair backbone seeds
CLAIMS_SOURCES = {
    "verb: random init": ("verb_random_init_seed{seed}", "verb", "features"),
    "verb: Sup": ("verb_supervised_seed{seed}", "verb", "features"),
    "verb: CVRL": ("verb_cvrl_seed{seed}", "verb", "features"),
    "verb: MoDist": ("verb_modist_seed{seed}", "verb", "features"),
    "verb: CVRL+VS": ("verb_cvrl_vs_seed{seed}", "verb", "features"),
    "verb: oracle": ("oracle_verb", "verb", "features"),
    "srl: blind": ("srl_cvrl_seed0", "srl", "blind"),
    "srl: Sup": ("srl_supervised_seed0", "srl", "features"),
    "srl: Sup N": ("srl_supervised_seed0", "srl", "scratch"),
    "srl: CVRL N": ("srl_cvrl_seed0", "srl", "scratch"),
    "srl: CVRL MaskPred-VS": ("srl_cvrl_seed0", "srl", "pretrained"),
    "srl: CVRL MaskPred-LVU": ("srl_cvrl_lvu", "srl", "pretrained"),
    "srl: Sup N, backbone seeds": ("srl_supervised_seed{seed}", "srl", "scratch"),
    "srl: CVRL N, backbone seeds": ("srl_cvrl_seed{seed}", "srl", "scratch"),
    "srl: oracle N": ("oracle_srl", "srl", "scratch"),
    "relation: CVRL": ("relation_cvrl_seed0", "relation", "features"),
    "relation: CVRL N": ("relation_cvrl_seed0", "relation", "scratch"),
    "relation: CVRL MaskPred": ("relation_cvrl_seed0", "relation", "pretrained"),
    "relation: Sup": ("relation_supervised_seed0", "relation", "features"),
    "relation: Sup N": ("relation_supervised_seed0", "relation", "scratch"),
    "relation: oracle": ("oracle_relation", "relation", "features"),
    "relation: oracle N": ("oracle_relation", "relation", "scratch"),
    "relation: oracle verbs only N": ("oracle_relation_verbs_only", "relation", "scratch"),
    "relation: oracle characters only N": ("oracle_relation_characters_only", "relation", "scratch"),
    "lvu": ("lvu", "lvu", None),
    "lvu: oracle": ("lvu_oracle", "lvu", None),
}
# the demo has one backbone (supervised) and one TxE pretrained on its train videos: its runs stand in only for
# the claims rows of that backbone (each run for one row), so a claim about another backbone, or comparing
# two backbones, is "not measured" rather than a row compared with itself
DEMO_SOURCES = {
    "srl: blind": (".", "srl", "blind"),
    "srl: Sup": (".", "srl", "features"),
    "srl: Sup N": (".", "srl", "scratch"),
    "verb: Sup": (".", "verb", "features"),
    "lvu": (".", "lvu", None),
}
LVU_ROW_NAMES = {"instance": "OT (instance)", "scene_sup": "scene: backbone tokens", "scene_ours": "scene: TxE (ours)"}


class Results:
    """Per-seed values of the recorded runs under a run folder: task tables and the Table 2 scores."""

    def __init__(
        self,
        out: Path,
        sources: dict[str, tuple],
        grid_scores: dict | None = None,
        backbone_seeds: int = 1,
        current: Callable[[str], bool] = lambda folder: True,
    ):
        """`grid_scores`: {Table 2 row label: {seed: {"r1": %, "cider": ...}}} (`stage2.score_grid`);
        `current(folder)`: whether a task folder was made by the current code (a stale one reads as not run)."""
        self.out, self.sources, self.grid_scores = Path(out), sources, grid_scores or {}
        self.backbone_seeds, self.current = backbone_seeds, current

    def _table(self, name: str, seed: int = 0) -> dict | None:
        if name not in self.sources:
            return None
        folder, task, _ = self.sources[name]
        folder = folder.format(seed=seed)
        path = self.out / "tasks" / folder / task / "table.json"
        return json.loads(path.read_text()) if path.is_file() and self.current(folder) else None

    def over_backbone_seeds(self, name: str) -> bool:
        """Whether row `name` is one run per backbone seed (its values are per backbone seed)."""
        return "{seed}" in self.sources.get(name, ("",))[0]

    def vidsitu(self, name: str, metric: str) -> Seeds:
        """{seed: value in %} of a VidSitu row (empty when it was not run); for a row over backbone seeds,
        {backbone seed: mean over its head seeds}."""
        if not self.over_backbone_seeds(name):
            return dict(enumerate(self._row_values(name, metric, 0)))
        means = {}
        for seed in range(self.backbone_seeds):
            values = self._row_values(name, metric, seed)
            if values:
                means[seed] = mean_se(values)[0]
        return means

    def _row_values(self, name: str, metric: str, seed: int) -> list[float]:
        table = self._table(name, seed)
        row = self.sources[name][2] if name in self.sources else None
        for entry in table["rows"] if table else ():
            if entry["row"] == row:
                return entry["metrics"][metric]["values"]
        return []

    def lvu(self, name: str, row: str, task: str, split: str = "test") -> Seeds:
        table = self._table(name)
        if not table or row not in table["splits"][split]:
            return {}
        return dict(enumerate(table["splits"][split][row]["tasks"][task]["values"]))

    def lvu_mean_ranks(self, split: str = "test") -> dict[str, Seeds]:
        """Per LVU row, its mean rank over the 9 tasks in each seed (rows ranked within the seed)."""
        table = self._table("lvu")
        if not table:
            return {}
        rows = list(table["splits"][split])
        seeds = min(len(self.lvu("lvu", row, task, split)) for row in rows for task in LVU_TASKS)
        lower = {task: LVU_TASKS[task] == 0 for task in LVU_TASKS}
        ranks: dict[str, Seeds] = {row: {} for row in rows}
        for seed in range(seeds):
            means = {row: {task: self.lvu("lvu", row, task, split)[seed] for task in LVU_TASKS} for row in rows}
            for row, ranked in rank_rows(means, lower).items():
                ranks[row][seed] = ranked["mean_rank"]
        return ranks

    def grid(self, label: str, metric: str) -> Seeds:
        return {int(seed): cell[metric] for seed, cell in self.grid_scores.get(label, {}).items() if metric in cell}


@dataclass(frozen=True)
class Claim:
    table: str
    text: str
    paper: str  # the paper's numbers
    direction: int  # +1: the first row is better; 0: no difference (the paper's ≈)
    compare: Callable[[Results], tuple[dict, str]]  # -> (paired difference, "ours" cell)


def _pair(a: Seeds, b: Seeds, names: tuple[str, str]) -> tuple[dict, str]:
    cells = [f"{name} {_cell(values)}" for name, values in zip(names, (a, b), strict=True)]
    return paired_difference(a, b), "; ".join(cells)


def _cell(values: Seeds) -> str:
    mean, error = mean_se(list(values.values()))
    return "-" if math.isnan(mean) else format_mean_se({"mean": mean, "se": error})


def _vs(a: str, b: str, metric: str) -> Callable[[Results], tuple[dict, str]]:
    """Row a against row b of the VidSitu tables; the "ours" cell names them without the task prefix."""
    names = (a.split(": ", 1)[1], b.split(": ", 1)[1])
    return lambda r: _pair(r.vidsitu(a, metric), r.vidsitu(b, metric), names)


def _grid_best(claimed: str, rows: tuple[str, ...], metric: str) -> Callable[[Results], tuple[dict, str]]:
    def compare(r: Results) -> tuple[dict, str]:
        values = {row: r.grid(row, metric) for row in rows}
        if not all(values.values()):
            return paired_difference({}, {}), "-"
        result = best_of(values, claimed)
        return result, "; ".join(f"{row} {_cell(v)}" for row, v in values.items())

    return compare


def _grid_pair(a: str, b: str, metric: str) -> Callable[[Results], tuple[dict, str]]:
    return lambda r: _pair(r.grid(a, metric), r.grid(b, metric), (a, b))


def _chance(r: Results) -> tuple[dict, str]:
    values = r.vidsitu("relation: CVRL N", "Macro_Top_1")
    return against_constant(values, 25.0), f"CVRL N {_cell(values)}; chance 25.00"


def _lvu_best(r: Results) -> tuple[dict, str]:
    ranks = r.lvu_mean_ranks()
    if "ot_pp" not in ranks:
        return paired_difference({}, {}), "-"
    result = best_of(ranks, "ot_pp", higher_is_better=False)
    return result, "; ".join(f"{LVU_ROW_NAMES.get(row, 'OT++')} {_cell(v)}" for row, v in ranks.items())


def _lvu_scene(r: Results) -> tuple[dict, str]:
    ranks = r.lvu_mean_ranks()
    if not {"scene_sup", "scene_ours"} <= set(ranks):
        return paired_difference({}, {}), "-"
    cell = f"mean rank: ours {_cell(ranks['scene_ours'])}; backbone tokens {_cell(ranks['scene_sup'])}"
    return paired_difference(ranks["scene_sup"], ranks["scene_ours"]), cell


MASKS = ("mask {1}", "mask {1, 2}", "mask {1, 2, 3}", "mask {1, 2, 3, 4}")
STRIDES = ("stride 1 s", "mask {1, 2, 3}", "stride 3 s")  # the reference row is the 2 s stride
GRID_METRICS = (("cider", "SRL CIDEr"), ("r1", "retrieval R@1"))
# (table, claim, paper, direction, row a, row b, metric): the claims that pair two VidSitu rows
VIDSITU_PAIRS = (
    ("4", "MoDist > CVRL (verb Acc@1)", "42.96 vs 32.84", 1, "verb: MoDist", "verb: CVRL", "acc1"),
    ("4", "Sup > none (verb Acc@1)", "38.29 vs 31.69", 1, "verb: Sup", "verb: random init", "acc1"),
    ("4", "CVRL+VS > CVRL (verb Acc@1)", "35.29 vs 32.84", 1, "verb: CVRL+VS", "verb: CVRL", "acc1"),
    ("1", "Slow-D+TxE(N)+TxD ≈ Slow-D+TxD: TxE from scratch adds nothing (Sup, CIDEr)", "51.36 vs 51.37", 0)
    + ("srl: Sup N", "srl: Sup", "cider"),
    ("1", "MaskPred > N (CVRL, CIDEr)", "61.18 vs 54.40", 1, "srl: CVRL MaskPred-LVU", "srl: CVRL N", "cider"),
    ("1", "MaskPred-LVU > MaskPred-VS (CIDEr)", "61.18 vs 60.34", 1)
    + ("srl: CVRL MaskPred-LVU", "srl: CVRL MaskPred-VS", "cider"),
    ("1", "CVRL backbone > Sup backbone (TxE N, CIDEr)", "54.40 vs 51.36", 1)
    + ("srl: CVRL N, backbone seeds", "srl: Sup N, backbone seeds", "cider"),
    ("3", "MaskPred TxE > backbone features (Mean-Acc)", "34.71 vs 33.89", 1)
    + ("relation: CVRL MaskPred", "relation: CVRL", "Macro_Top_1"),
)
# (claim, paper, direction, compare(metric)): Table 2, each scored by SRL CIDEr and by retrieval R@1
GRID_CLAIMS = (
    ("mask {1, 2, 3} best of four", "61.18 vs 59.45 ({1,2,3,4})", 1, lambda m: _grid_best(MASKS[2], MASKS, m)),
    ("stride 2 s best of three", "61.18 vs 60.15 (1 s)", 1, lambda m: _grid_best(MASKS[2], STRIDES, m)),
    ("contrastive > L2", "61.18 vs 58.88", 1, lambda m: _grid_pair(MASKS[2], "L2 loss", m)),
    ("max discrepancy ≈ uniform", "61.65 vs 61.18", 0, lambda m: _grid_pair("max discrepancy", MASKS[2], m)),
)
CLAIMS = (
    *(
        Claim(table, text, paper, direction, _vs(a, b, metric))
        for table, text, paper, direction, a, b, metric in VIDSITU_PAIRS
        if table in ("4", "1")
    ),
    *(
        Claim("2", f"{text} ({name})", paper, direction, compare(metric))
        for metric, name in GRID_METRICS
        for text, paper, direction, compare in GRID_CLAIMS
    ),
    Claim("3", "TxE from scratch stays at chance (Mean-Acc 25%)", "25.00 ± 0.00", 0, _chance),
    *(Claim(t, text, paper, d, _vs(a, b, metric)) for t, text, paper, d, a, b, metric in VIDSITU_PAIRS if t == "3"),
    Claim("5", "OT++ (instance + ours) has the best mean rank", "2.33 vs 2.89", 1, _lvu_best),
    Claim("5", "scene pathway: our TxE beats the backbone (Sup) tokens (mean rank)", "2.89 vs 4.44", 1, _lvu_scene),
)


def evaluate_claims(results: Results) -> list[dict]:
    """Every claim of CLAIMS: the paper's numbers, ours, the paired difference ± s.e., wins, the verdict."""
    rows = []
    for claim in CLAIMS:
        compared, ours = claim.compare(results)
        measured = compared["seeds"] >= 2
        decided = NOT_MEASURED
        if measured:
            decided = verdict(compared["difference"], compared["se"], claim.direction, compared["reference"])
        rows.append(
            {
                "table": claim.table,
                "claim": claim.text,
                "paper": claim.paper,
                "ours": ours,
                **compared,
                "verdict": decided,
            }
        )
    return rows


def claims_markdown(claims: list[dict]) -> str:
    """The claims table: one row per claim, the verdict by the 2 s.e. rule of `verdicts.py`."""
    lines = [
        "| table | claim | paper | ours (mean ± s.e.) | paired difference ± s.e. | wins / seeds | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in claims:
        measured = c["verdict"] != NOT_MEASURED
        difference = f"{c['difference']:+.2f} ± {c['se']:.2f}" if measured else "-"
        against = f" (vs {c['against']})" if "against" in c and measured else ""
        wins = f"{c['wins']} / {c['seeds']}" if measured else "-"
        lines.append(
            f"| {c['table']} | {c['claim']} | {c['paper']} | {c['ours']} | {difference}{against} | {wins} | "
            f"**{c['verdict']}** |"
        )
    counts = {v: sum(c["verdict"] == v for c in claims) for v in dict.fromkeys(c["verdict"] for c in claims)}
    return "\n".join(lines) + "\n\n" + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".\n"


def vidsitu_tables(results: Results, floors: dict) -> str:
    """Tables 4, 1, 3 with their floor (trivial baseline) and ceiling (oracle event features) rows."""
    layouts = (
        (
            "Table 4: verbs (VidSitu valid; mean ± s.e. over backbone seeds, each the mean of its head seeds)",
            "verb",
            (
                ("floor: 5 most frequent train verbs", None),
                ("random init", "verb: random init"),
                ("Sup", "verb: Sup"),
                ("CVRL", "verb: CVRL"),
                ("MoDist", "verb: MoDist"),
                ("CVRL+VS", "verb: CVRL+VS"),
                ("ceiling: oracle event features", "verb: oracle"),
            ),
        ),
        (
            "Table 1: semantic roles (VidSitu valid)",
            "srl",
            (
                ("floor: text only, verb given (blind TxD)", "srl: blind"),
                ("Slow-D+TxD, Sup", "srl: Sup"),
                ("Slow-D+TxE+TxD, Sup, N", "srl: Sup N"),
                ("Slow-D+TxE+TxD, CVRL, N", "srl: CVRL N"),
                ("Slow-D+TxE+TxD, CVRL, MaskPred-VS", "srl: CVRL MaskPred-VS"),
                ("Slow-D+TxE+TxD, CVRL, MaskPred-LVU", "srl: CVRL MaskPred-LVU"),
                ("Slow-D+TxE+TxD, Sup, N: backbone seeds", "srl: Sup N, backbone seeds"),
                ("Slow-D+TxE+TxD, CVRL, N: backbone seeds", "srl: CVRL N, backbone seeds"),
                ("ceiling: oracle event features + TxE N + TxD", "srl: oracle N"),
            ),
        ),
        (
            "Table 3: event relations (VidSitu valid)",
            "relation",
            (
                ("floor: majority relation", None),
                ("Slow-D, CVRL", "relation: CVRL"),
                ("Slow-D+TxE, CVRL, N", "relation: CVRL N"),
                ("Slow-D+TxE, CVRL, MaskPred-VS", "relation: CVRL MaskPred"),
                ("Slow-D, Sup (reads verbs)", "relation: Sup"),
                ("Slow-D+TxE, Sup, N", "relation: Sup N"),
                ("oracle event features", "relation: oracle"),
                ("oracle parts: the verbs only + TxE N", "relation: oracle verbs only N"),
                ("oracle parts: the characters only + TxE N", "relation: oracle characters only N"),
                ("ceiling: oracle event features + TxE N", "relation: oracle N"),
            ),
        ),
    )
    parts = []
    for title, task, rows in layouts:
        columns = COLUMNS[task]
        lines = [
            f"### {title}",
            "",
            "| row | " + " | ".join(n for n, _ in columns) + " | seeds |",
            "|---|" + "---|" * (len(columns) + 1),
        ]
        for label, name in rows:
            if name is None:  # a constant floor: one value, no seeds
                if task in floors:
                    cells = [format_mean_se({"mean": floors[task][key], "se": math.nan}) for _, key in columns]
                    lines.append(f"| {label} | " + " | ".join(cells) + " | - |")
                continue
            values = {key: results.vidsitu(name, key) for _, key in columns}
            if values[columns[0][1]]:
                cells = [_cell(values[key]) for _, key in columns]
                seeds = f"{len(values[columns[0][1]])}" + (" backbone" if results.over_backbone_seeds(name) else "")
                lines.append(f"| {label} | " + " | ".join(cells) + f" | {seeds} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def lvu_table(results: Results, floors: dict) -> str:
    """Table 5 on test with the floor (majority class / train mean) and the ceiling (scene pathway over
    oracle event features) rows."""
    arrows = [f"{TASK_COLUMNS[t]} ({'↓' if LVU_TASKS[t] == 0 else '↑'})" for t in LVU_TASKS]
    lines = [
        "### Table 5: LVU test (accuracy %, MSE for Like and Views)",
        "",
        "| row | " + " | ".join(arrows) + " | seeds |",
        "|---|" + "---|" * (len(arrows) + 1),
    ]
    if "lvu" in floors:
        lines.append(
            "| floor: majority class / train mean | "
            + " | ".join(f"{floors['lvu'][t]:.{3 if LVU_TASKS[t] == 0 else 2}f}" for t in LVU_TASKS)
            + " | - |"
        )
    named = [
        ("lvu", row, LVU_ROW_NAMES.get(row, "OT++ (instance + ours)"))
        for row in ("instance", "scene_sup", "scene_ours", "ot_pp")
    ]
    for name, row, label in [*named, ("lvu: oracle", "scene_sup", "ceiling: scene pathway, oracle event features")]:
        values = {t: results.lvu(name, row, t) for t in LVU_TASKS}
        if all(values.values()):
            cells = [_cell(values[t]) for t in LVU_TASKS]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {len(values['scene'])} |")
    return "\n".join(lines) + "\n"


def grid_table(results: Results) -> str:
    """Table 2: every grid row on the fixed validation set, retrieval R@1 and SRL CIDEr."""
    lines = [
        "### Table 2: TxE pretraining settings (MaskPred-LVU; VidSitu valid for every row)",
        "",
        "| row | retrieval R@1 (%) | SRL CIDEr | seeds |",
        "|---|---|---|---|",
    ]
    for label in results.grid_scores:
        r1, cider = results.grid(label, "r1"), results.grid(label, "cider")
        lines.append(f"| {label} | {_cell(r1)} | {_cell(cider)} | {len(r1)} |")
    return "\n".join(lines) + "\n"


# a ceiling is "well above" its floor when the gap is beyond 2 s.e. and at least this large: points of
# accuracy, or a fraction of the floor (CIDEr, MSE); "leaves chance" asks only for the 2 s.e.
WELL_ABOVE_POINTS, WELL_ABOVE_FRACTION = 10.0, 0.2


def learnability_checks(results: Results, floors: dict) -> list[dict]:
    """Whether each task's ceiling (oracle event features) is well above its floor on the benchmark, and
    whether a verb-reading backbone leaves chance on relations: a learned row can only be told from the
    floor where the benchmark carries what decides the label."""
    srl_floor = mean_se(list(results.vidsitu("srl: blind", "cider").values()))[0]
    relation_floor = floors["relation"]["Macro_Top_1"]
    checks = [  # (what, ceiling values, floor, minimum gap, lower is better)
        (
            "verbs: oracle, Acc@1",
            results.vidsitu("verb: oracle", "acc1"),
            floors["verb"]["acc1"],
            WELL_ABOVE_POINTS,
            False,
        ),
        (
            "semantic roles: oracle N, CIDEr (floor: blind TxD)",
            results.vidsitu("srl: oracle N", "cider"),
            srl_floor,
            WELL_ABOVE_FRACTION * srl_floor,
            False,
        ),
        (
            "relations: oracle N, Mean-Acc",
            results.vidsitu("relation: oracle N", "Macro_Top_1"),
            relation_floor,
            WELL_ABOVE_POINTS,
            False,
        ),
        (
            "relations: Sup N (a verb-reading backbone leaves chance)",
            results.vidsitu("relation: Sup N", "Macro_Top_1"),
            relation_floor,
            0.0,
            False,
        ),
    ]
    for task, kind in LVU_TASKS.items():
        values = results.lvu("lvu: oracle", "scene_sup", task)
        floor = floors["lvu"][task]
        gap = WELL_ABOVE_FRACTION * floor if kind == 0 else WELL_ABOVE_POINTS
        checks.append((f"LVU {TASK_COLUMNS[task]}: oracle scene pathway", values, floor, gap, kind == 0))
    rows = []
    for what, values, floor, minimum, lower in checks:
        sign = -1 if lower else 1
        compared = against_constant({s: sign * v for s, v in values.items()}, sign * floor)
        gap, se = compared["difference"], compared["se"]
        if compared["seeds"] < 2 or math.isnan(floor):
            decided = NOT_MEASURED
        elif gap > 2 * se and gap >= minimum:
            decided = "well above" if minimum else "leaves chance"
        else:
            decided = "above, not well" if gap > 2 * se else "not above"
        rows.append({"check": what, "ceiling": _cell(values), "floor": floor, "gap": gap, "se": se, "verdict": decided})
    return rows


def learnability_markdown(checks: list[dict]) -> str:
    """The learnability checks as a table (gaps signed so that positive is better than the floor)."""
    lines = [
        "| check | ceiling (mean ± s.e.) | floor | gap ± s.e. | verdict |",
        "|---|---|---|---|---|",
    ]
    for c in checks:
        gap = "-" if c["verdict"] == NOT_MEASURED else f"{c['gap']:+.3g} ± {c['se']:.2g}"
        lines.append(f"| {c['check']} | {c['ceiling']} | {c['floor']:.4g} | {gap} | {c['verdict']} |")
    return "\n".join(lines) + "\n"


def write_claims(out: Path, results: Results, floors: dict, header: str) -> Path:
    """OUT/claims.md (header, claims table, learnability checks, task tables) and OUT/claims.json."""
    claims = evaluate_claims(results)
    checks = learnability_checks(results, floors)
    sections = [
        header,
        "## Claims",
        "",
        claims_markdown(claims),
        "## Can the benchmark tell the rows apart? (each task's ceiling against its floor)",
        "",
        f"Well above: beyond 2 s.e. and by at least {WELL_ABOVE_POINTS:.0f} points of accuracy or "
        f"{100 * WELL_ABOVE_FRACTION:.0f}% of the floor (CIDEr, MSE).",
        "",
        learnability_markdown(checks),
        "## Tables with floors and ceilings",
        "",
        vidsitu_tables(results, floors),
        grid_table(results) if results.grid_scores else "",
        lvu_table(results, floors),
    ]
    path = Path(out) / "claims.md"
    path.write_text("\n".join(sections))
    record = {"claims": claims, "learnability": checks, "floors": floors}
    (Path(out) / "claims.json").write_text(json.dumps(record, indent=1))
    return path
