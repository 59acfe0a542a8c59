"""The LVU rows' model (paper sec. 5, Fig. 3): every row is one Object Transformer over a span's token sequence
(scene tokens, instances, or both for OT++) under one lr policy; planted-signal runs of both pathways."""

from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
from torch import nn

from hiermovie.datasets.lvu import LVU_TASKS
from hiermovie.tasks.config import TASK_PROFILES, TaskConfig
from hiermovie.tasks.lvu_data import Movie
from hiermovie.tasks.lvu_tasks import LVU_ROWS, create_lvu_model, evaluation_spans, parameter_groups, train_lvu_run
from hiermovie.tasks.object_transformer import (
    ObjectTransformer,
    collate_instances,
    collate_scene,
    create_object_transformer,
)

from .conftest import random_instances

DIM, SCENE = 16, 12
CONFIG = replace(TASK_PROFILES["tiny"], lvu_span_sec=6, ot_dim=16, ot_layers=1, ot_heads=2, ot_ffn=32)


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(row: str, pretrained: dict | None = None):
    torch.manual_seed(0)
    return create_lvu_model("genre", row, CONFIG, DIM, SCENE, pretrained).eval()


def _scene(rng: np.random.Generator, k: int) -> dict[str, np.ndarray]:
    return {"features": rng.normal(size=(k, SCENE)).astype(np.float32), "sec": np.arange(k)}


@pytest.mark.parametrize("row", ["scene_sup", "scene_ours"])
def test_a_scene_row_reads_the_span_tokens_as_a_sequence_through_an_object_transformer(row):
    model = _model(row)
    assert isinstance(model.ot, ObjectTransformer) and (model.ot.scene_dim, model.ot.input_dim) == (SCENE, None)
    assert model.ot.type_embedding is None and model.head[-1].in_features == CONFIG.ot_dim
    tokens = _scene(np.random.default_rng(0), 6)
    reordered = {"features": tokens["features"][::-1].copy(), "sec": tokens["sec"]}  # same mean, other seconds
    moved = {"features": tokens["features"], "sec": np.array([0, 0, 1, 1, 2, 5])}  # same tokens, other seconds
    with torch.no_grad():
        for parameter in model.parameters():  # away from BERT's small init, as after training
            parameter.add_(0.3 * torch.randn_like(parameter))
        base, *others = (model(None, collate_scene([example])) for example in (tokens, reordered, moved))  # (1, C)
    for other in others:
        assert not torch.allclose(base, other, atol=1e-4)  # a pooled mean would give the same output
    model.train()
    model(None, collate_scene([tokens, reordered])).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.ot.encoder.parameters())  # fine-tuned


def test_ot_pp_is_one_transformer_over_instances_and_scene_tokens_with_a_type_embedding():
    torch.manual_seed(1)
    pretrained = create_object_transformer(DIM, hidden_dim=16, num_layers=1, num_heads=2, ffn_dim=32, max_seconds=6)
    model = _model("ot_pp", pretrained.state_dict())
    encoders = [module for module in model.modules() if isinstance(module, nn.TransformerEncoder)]
    assert encoders == [model.ot.encoder] and model.head[-1].in_features == CONFIG.ot_dim
    assert (model.ot.input_dim, model.ot.scene_dim, model.ot.type_embedding.num_embeddings) == (DIM, SCENE, 2)
    state = model.ot.state_dict()  # the instance part is the pretrained OT; scene projection and types are new
    assert all(torch.equal(state[key], value) for key, value in pretrained.state_dict().items())
    assert set(state) - set(pretrained.state_dict()) == {
        "scene_proj.weight",
        "scene_proj.bias",
        "type_embedding.weight",
    }
    rng = np.random.default_rng(0)
    instances = collate_instances([random_instances(rng, 4, DIM), random_instances(rng, 2, DIM)], 8)  # (2, 4)
    scene = collate_scene([_scene(rng, 6), _scene(rng, 3)])  # (2, 6)
    valid = torch.cat([instances.valid, scene.valid], dim=1)  # (2, 10)
    with torch.no_grad():
        for parameter in model.parameters():  # away from the small init, as after training
            parameter.add_(0.3 * torch.randn_like(parameter))
        pooled, outputs = model.ot(instances, scene)  # (2, H), (2, 10, H)
        assert outputs.shape == (2, 10, CONFIG.ot_dim)
        _, other_scene = model.ot(instances, replace(scene, features=scene.features + 1.0))
        _, other_instances = model.ot(replace(instances, features=instances.features + 1.0), scene)
        # attention sees both: other scene tokens change the instances' outputs, other instances the scene's
        assert not torch.allclose(outputs[:, :4][valid[:, :4]], other_scene[:, :4][valid[:, :4]], atol=1e-4)
        assert not torch.allclose(outputs[:, 4:][valid[:, 4:]], other_instances[:, 4:][valid[:, 4:]], atol=1e-4)
        before = model(instances, scene)  # (2, C)
        model.ot.type_embedding.weight[1] += torch.randn(CONFIG.ot_dim)  # (a constant would vanish in the LayerNorm)
        assert not torch.allclose(model(instances, scene), before, atol=1e-4)  # the type embedding reaches it


def test_every_row_trains_every_parameter_under_one_lr_policy():
    assert "lvu_head_lr" not in asdict(TaskConfig())  # one lr field for every parameter of every row
    config = replace(CONFIG, lvu_lr=3e-4)
    policies = set()
    for row in LVU_ROWS:
        model = _model(row)
        groups = parameter_groups(model, config)
        assert all(group["peak_lr"] == group["lr"] == 3e-4 for group in groups)
        ids = sorted(id(p) for group in groups for p in group["params"])
        assert ids == sorted(id(p) for p in model.parameters())  # every parameter, once
        exempt = {id(p) for group in groups if group["weight_decay"] == 0.0 for p in group["params"]}
        assert {id(model.head[-1].bias), id(model.ot.norm.weight)} <= exempt and id(model.head[-1].weight) not in exempt
        policies.add(tuple(sorted((group["peak_lr"], group["weight_decay"]) for group in groups)))
    assert policies == {((3e-4, 0.0), (3e-4, 0.01))}


# ---------------------------------------------------------------- planted signals through train_lvu_run

SECONDS, CLASSES = 8, LVU_TASKS["scene"]
PLANTED = replace(TASK_PROFILES["tiny"], lvu_span_sec=6, lvu_epochs=8)  # the tiny profile's OT and lr: 96 steps


def _movies(labels: np.ndarray, hidden: np.ndarray, plant: str, seed: int) -> list[Movie]:
    """8 s movies (1 s tokens, 2 instances a second) of noise, plus the prototype of class hidden[i] in every scene
    token (`plant` "scene": backbone and TxE tokens) or every instance feature ("instance"); labelled labels[i]."""
    prototypes = 2.0 * np.random.default_rng(123).normal(size=(CLASSES, DIM))  # (C, D)
    rng = np.random.default_rng(seed)
    movies = []
    for index, (label, kind) in enumerate(zip(labels.tolist(), hidden.tolist(), strict=True)):
        raw, context = rng.normal(size=(2, SECONDS, DIM)) + (prototypes[kind] if plant == "scene" else 0.0)
        instances = rng.normal(size=(2 * SECONDS, DIM)) + (prototypes[kind] if plant == "instance" else 0.0)
        movies.append(
            Movie(
                video_id=f"v{index}",
                label=float(label),
                duration=float(SECONDS),
                centre_sec=np.arange(SECONDS) + 0.5,
                raw=raw.astype(np.float32),
                context=context.astype(np.float32),
                instance_sec=np.repeat(np.arange(SECONDS), 2),
                instance_track=np.tile([0, 1], SECONDS),
                instance_shot=np.zeros(2 * SECONDS, np.int64),
                instance_features=instances.astype(np.float32),
                instance_box=np.tile(np.array([[0.1, 0.2, 0.5, 0.6]], np.float32), (2 * SECONDS, 1)),
            )
        )
    return movies


def _planted_run(row: str, plant: str, shuffled: bool) -> dict:
    """Train on 48 movies, select on 24, test on 24 (6 classes); shuffled: labels paired with the wrong movies."""
    rng, splits = np.random.default_rng(0), {}
    for split, count, seed in (("train", 48, 1), ("val", 24, 2), ("test", 24, 3)):
        hidden = np.arange(count) % CLASSES
        movies = _movies(rng.permutation(hidden) if shuffled else hidden, hidden, plant, seed)
        splits[split] = (movies, None if split == "train" else evaluation_spans(movies, PLANTED.lvu_span_sec))
    return train_lvu_run("scene", row, 0, splits, PLANTED, None, torch.device("cpu"))


@pytest.mark.parametrize(
    "row, plant",
    [
        ("scene_sup", "scene"),
        ("scene_ours", "scene"),
        ("ot_pp", "scene"),
        ("instance", "instance"),
        ("ot_pp", "instance"),
    ],
)
def test_a_row_learns_the_class_its_pathway_carries(row, plant):
    result = _planted_run(row, plant, shuffled=False)
    assert result["val"] >= 0.9 and result["test"] >= 0.9, result  # chance: 1/6


@pytest.mark.parametrize("row, plant", [("scene_sup", "scene"), ("instance", "instance")])
def test_a_row_stays_near_chance_when_the_labels_belong_to_other_movies(row, plant):
    result = _planted_run(row, plant, shuffled=True)
    assert result["test"] <= 0.45, result  # chance 1/6 (24 test movies: s.e. ~0.08)
