import json

from hiermovie.claims.report import (
    CLAIMS_SOURCES,
    DEMO_SOURCES,
    Results,
    claims_markdown,
    evaluate_claims,
    learnability_checks,
    vidsitu_tables,
)
from hiermovie.datasets.lvu import LVU_TASKS


def _table(root, name, metric, values_by_row, seed=0):
    folder, task, _ = CLAIMS_SOURCES[name]
    path = root / "tasks" / folder.format(seed=seed) / task / "table.json"
    table = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    for row, values in values_by_row.items():
        table["rows"].append({"row": row, "metrics": {metric: {"values": values}}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table))


def test_claims_read_the_recorded_seeds_and_apply_the_rule(tmp_path):
    # Table 4 rows are one folder per backbone seed: the backbone seed's value is the mean of its head seeds
    for seed, (modist, cvrl) in enumerate(
        [([39.0, 41.0], [30.0, 30.0]), ([42.0, 42.0], [31.0, 31.0]), ([41.0], [33.0])]
    ):
        _table(tmp_path, "verb: MoDist", "acc1", {"features": modist}, seed)
        _table(tmp_path, "verb: CVRL", "acc1", {"features": cvrl, "scratch": [1.0, 1.0]}, seed)
    _table(tmp_path, "srl: Sup", "cider", {"features": [50.0, 52.0, 51.0], "scratch": [50.5, 51.0, 52.0]})
    grid = {label: {0: {"r1": 10.0}, 1: {"r1": 12.0}} for label in ("mask {1, 2, 3}", "L2 loss")}
    grid["mask {1, 2, 3}"] = {0: {"r1": 20.0}, 1: {"r1": 30.0}}
    results = Results(tmp_path, CLAIMS_SOURCES, grid, backbone_seeds=3)
    assert results.vidsitu("verb: MoDist", "acc1") == {0: 40.0, 1: 42.0, 2: 41.0}
    claims = {c["claim"]: c for c in evaluate_claims(results)}

    modist = claims["MoDist > CVRL (verb Acc@1)"]  # differences 10, 11, 8 over backbone seeds: 9.67 ± 0.88
    assert modist["verdict"] == "reproduced" and modist["wins"] == 3 and round(modist["difference"], 2) == 9.67
    assert modist["seeds"] == 3  # backbone seeds, not the 5 head runs
    scratch = claims["Slow-D+TxE(N)+TxD ≈ Slow-D+TxD: TxE from scratch adds nothing (Sup, CIDEr)"]
    assert scratch["verdict"] == "reproduced"  # differences 0.5, -1, 1: 0.17 ± 0.6, within 5% of 51
    assert claims["contrastive > L2 (retrieval R@1)"]["verdict"] == "reproduced"  # 10, 18 over 2 seeds
    assert claims["Sup > none (verb Acc@1)"]["verdict"] == "not measured"  # its rows were not run
    assert claims["OT++ (instance + ours) has the best mean rank"]["verdict"] == "not measured"
    markdown = claims_markdown(list(claims.values()))
    assert "| 4 | MoDist > CVRL (verb Acc@1) | 42.96 vs 32.84 | MoDist 41.00 ± 0.58; CVRL 31.33 ± 0.88 |" in markdown


def test_a_stale_task_folder_reads_as_not_run(tmp_path):
    for seed in range(2):
        _table(tmp_path, "verb: Sup", "acc1", {"features": [50.0, 52.0]}, seed)
        _table(tmp_path, "verb: random init", "acc1", {"features": [30.0, 31.0]}, seed)
    current = Results(tmp_path, CLAIMS_SOURCES, backbone_seeds=2)
    assert current.vidsitu("verb: Sup", "acc1") == {0: 51.0, 1: 51.0}
    stale = Results(
        tmp_path, CLAIMS_SOURCES, backbone_seeds=2, current=lambda folder: folder != "verb_supervised_seed1"
    )
    assert stale.vidsitu("verb: Sup", "acc1") == {0: 51.0}
    claims = {c["claim"]: c for c in evaluate_claims(stale)}
    assert claims["Sup > none (verb Acc@1)"]["verdict"] == "not measured"  # one backbone seed left: no s.e.


def test_tables_show_floor_and_ceiling_rows(tmp_path):
    _table(tmp_path, "verb: oracle", "acc1", {"features": [90.0, 92.0]})
    for key in ("acc5", "rec5"):
        path = tmp_path / "tasks" / "oracle_verb" / "verb" / "table.json"
        table = json.loads(path.read_text())
        table["rows"][0]["metrics"][key] = {"values": [99.0, 99.0]}
        path.write_text(json.dumps(table))
    floors = {"verb": {"acc1": 21.7, "acc5": 82.9, "rec5": 35.7}, "relation": {"Macro_Top_1": 25.0, "Top_1": 53.6}}
    text = vidsitu_tables(Results(tmp_path, CLAIMS_SOURCES), floors)
    assert "| floor: 5 most frequent train verbs | 21.70 | 82.90 | 35.70 | - |" in text
    assert "| ceiling: oracle event features | 91.00 ± 1.00 | 99.00 ± 0.00 | 99.00 ± 0.00 | 2 |" in text


def test_an_undefined_floor_shows_as_a_dash(tmp_path):
    floors = {"verb": {"acc1": 21.7, "acc5": 82.9, "rec5": float("nan")}}  # no verb qualifies for Rec@5
    text = vidsitu_tables(Results(tmp_path, CLAIMS_SOURCES), floors)
    assert "| floor: 5 most frequent train verbs | 21.70 | 82.90 | - | - |" in text


def test_the_demo_stands_in_only_for_its_own_backbone_each_run_for_one_row():
    # one supervised backbone: a run labelled CVRL would be the supervised one's, and "CVRL N vs Sup N"
    # would compare a run with itself
    assert len(set(DEMO_SOURCES.values())) == len(DEMO_SOURCES)
    assert not [row for row in DEMO_SOURCES if any(name in row for name in ("CVRL", "MoDist", "random init"))]


def _lvu_table(root, folder, row, values_by_task):
    path = root / "tasks" / folder / "lvu" / "table.json"
    tasks = {task: {"values": values} for task, values in values_by_task.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"splits": {"test": {row: {"tasks": tasks}}}}))


def test_learnability_checks_tell_a_ceiling_well_above_its_floor_from_one_barely_above_it(tmp_path):
    _table(tmp_path, "verb: oracle", "acc1", {"features": [57.0, 58.0, 59.0]})
    _table(tmp_path, "relation: Sup N", "Macro_Top_1", {"scratch": [25.5, 24.0, 26.0]})
    lvu = {task: [50.0, 52.0] for task in LVU_TASKS}
    lvu |= {"relationship": [31.0, 32.0], "like_ratio": [0.15, 0.16], "view_count": [2.1, 2.3]}
    _lvu_table(tmp_path, "lvu_oracle", "scene_sup", lvu)
    floors = {
        "verb": {"acc1": 21.7},
        "relation": {"Macro_Top_1": 25.0},
        "lvu": {task: 20.0 for task in LVU_TASKS} | {"relationship": 29.0, "like_ratio": 0.215, "view_count": 2.16},
    }
    checks = {c["check"]: c for c in learnability_checks(Results(tmp_path, CLAIMS_SOURCES), floors)}
    assert checks["verbs: oracle, Acc@1"]["verdict"] == "well above"  # +36.3 ± 0.6
    assert checks["relations: Sup N (a verb-reading backbone leaves chance)"]["verdict"] == "not above"
    assert checks["LVU Relation: oracle scene pathway"]["verdict"] == "above, not well"  # +2.5 ± 0.5 < 10
    assert checks["LVU Like: oracle scene pathway"]["verdict"] == "well above"  # MSE 0.155 vs 0.215: -28%
    assert checks["LVU Views: oracle scene pathway"]["verdict"] == "not above"  # MSE 2.2 vs 2.16: worse
    assert checks["semantic roles: oracle N, CIDEr (floor: blind TxD)"]["verdict"] == "not measured"
