import json

from hiermovie.claims.report import (
    CLAIMS_SOURCES,
    DEMO_SOURCES,
    Results,
    claims_markdown,
    evaluate_claims,
    vidsitu_tables,
)


def _table(root, name, metric, values_by_row):
    folder, task, _ = CLAIMS_SOURCES[name]
    path = root / "tasks" / folder / task / "table.json"
    table = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    for row, values in values_by_row.items():
        table["rows"].append({"row": row, "metrics": {metric: {"values": values}}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table))


def test_claims_read_the_recorded_seeds_and_apply_the_rule(tmp_path):
    _table(tmp_path, "verb: MoDist", "acc1", {"features": [40.0, 42.0, 41.0]})
    _table(tmp_path, "verb: CVRL", "acc1", {"features": [30.0, 31.0, 33.0], "scratch": [1.0, 1.0, 1.0]})
    _table(tmp_path, "srl: Sup", "cider", {"features": [50.0, 52.0, 51.0], "scratch": [50.5, 51.0, 52.0]})
    grid = {label: {0: {"r1": 10.0}, 1: {"r1": 12.0}} for label in ("mask {1, 2, 3}", "L2 loss")}
    grid["mask {1, 2, 3}"] = {0: {"r1": 20.0}, 1: {"r1": 30.0}}
    claims = {c["claim"]: c for c in evaluate_claims(Results(tmp_path, CLAIMS_SOURCES, grid))}

    modist = claims["MoDist > CVRL (verb Acc@1)"]  # differences 10, 11, 8: mean 9.67, s.e. 0.88
    assert modist["verdict"] == "reproduced" and modist["wins"] == 3 and round(modist["difference"], 2) == 9.67
    scratch = claims["Slow-D+TxE(N)+TxD ≈ Slow-D+TxD: TxE from scratch adds nothing (Sup, CIDEr)"]
    assert scratch["verdict"] == "reproduced"  # differences 0.5, -1, 1: 0.17 ± 0.6, within 5% of 51
    assert claims["contrastive > L2 (retrieval R@1)"]["verdict"] == "reproduced"  # 10, 18 over 2 seeds
    assert claims["Sup > none (verb Acc@1)"]["verdict"] == "not measured"  # its rows were not run
    assert claims["OT++ (instance + ours) has the best mean rank"]["verdict"] == "not measured"
    markdown = claims_markdown(list(claims.values()))
    assert "| 4 | MoDist > CVRL (verb Acc@1) | 42.96 vs 32.84 | MoDist 41.00 ± 0.58; CVRL 31.33 ± 0.88 |" in markdown


def test_tables_show_floor_and_ceiling_rows(tmp_path):
    _table(tmp_path, "verb: oracle", "acc1", {"features": [90.0, 92.0]})
    for key in ("acc5", "rec5"):
        path = tmp_path / "tasks" / "oracle" / "verb" / "table.json"
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
