"""The claims run's config: how many seeds and epochs each measurement gets (saved into OUT/config.json)."""

from dataclasses import dataclass

# the table groups of a claims run, in the order `make claims` runs them; each is resumable on its own and
# shares its steps with the others (benchmark, backbones, caches, TxEs), made by the first group that needs
# them: in this order each group stays under 75 minutes on 2 cores (docs/claims.md), while Table 4 first would
# pretrain all 15 backbones (3 seeds x 5) alone
TABLE_GROUPS = {
    "3": "Table 3: event relations (makes the seed-0 Sup and CVRL backbones, MaskPred-VS)",
    "5": "Table 5: the nine LVU tasks (makes the LVU cache, MaskPred-LVU)",
    "1": "Table 1: semantic roles (SRL), CVRL against Sup over backbone seeds",
    "2": "Table 2: the TxE pretraining grid, by retrieval and SRL",
    "4": "Table 4: verbs from each backbone, over backbone seeds",
}


@dataclass(frozen=True)
class ClaimsConfig:
    size: str = "eval"  # benchmark size: eval (>= 1,500 valid events, 100 LVU val / test movies) | full | demo | tiny
    seed: int = 0  # benchmark seed
    # stage 1: each method's tiny Slow-D profile (supervised 18 epochs, CVRL and MoDist 12, batch 32: the
    # supervised one passes 0.80 on the Kinetics-style val clips, `bench/bench_tiny_recipe.py`); None keeps them
    backbone_epochs: int | None = None
    vs_backbone_epochs: int = 2  # CVRL continued on the VidSitu train clips (CVRL+VS): 7 steps an epoch
    backbone_batch_size: int = 32  # the tiny profile's
    # every claim that compares backbones (Table 4; CVRL vs Sup in Table 1) is over this many backbone seeds,
    # each pretrained anew; its value for a backbone seed is the mean over that seed's head seeds
    backbone_seeds: int = 3
    backbone_head_runs: int = 3  # head seeds per backbone seed in the verb rows of Table 4
    # stage 2
    txe_batch_size: int = 64  # the tiny TxE profile's
    vidsitu_runs: int = 10  # seeds per VidSitu row (paper Tables 1, 3: 10 runs)
    srl_runs: int = 10  # seeds per SRL row (an SRL run is the costly one: ~45 s at eval size on 2 cores)
    lvu_runs: int = 5  # seeds per LVU row (paper Table 5: 5 runs)
    grid_runs: int = 3  # TxE pretraining seeds per Table 2 row, each scored by retrieval and one SRL run
    vs_txe_epochs: int = 100  # MaskPred-VS on the VidSitu clips (paper: 100 epochs on VidSitu)
    lvu_txe_epochs: int = 20  # MaskPred-LVU and the Table 2 grid on the LVU movies (the tiny profile's 20)


def parse_tables(text: str) -> tuple[str, ...]:
    """The table groups named in "4,1,2" (in TABLE_GROUPS order); "all" or "" for every group."""
    names = [name.strip() for name in text.replace(" ", ",").split(",") if name.strip()]
    if not names or names == ["all"]:
        return tuple(TABLE_GROUPS)
    unknown = [name for name in names if name not in TABLE_GROUPS]
    if unknown:
        raise ValueError(f"unknown table {unknown[0]!r}; choose from {', '.join(TABLE_GROUPS)} (or all)")
    return tuple(name for name in TABLE_GROUPS if name in names)
