"""Object Transformer and its masked-instance pretraining: collation, shapes, padding invariance, box jitter, track
masking, 80/10/10 codes, the masked-instance loss, and a few pretraining steps."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from hiermovie.tasks.instance_pretraining import (
    KEEP,
    MASK_TOKEN,
    RANDOM_FEATURE,
    UNCHANGED,
    MaskedInstancePretraining,
    create_masked_instance_pretraining,
    mask_codes,
    track_mask,
)
from hiermovie.tasks.losses.masked_instance import masked_instance_loss
from hiermovie.tasks.object_transformer import (
    InstanceBatch,
    ObjectTransformer,
    collate_instances,
    collate_scene,
    create_object_transformer,
    load_instance_weights,
)

DIM, HIDDEN = 12, 16


pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny(dropout: float = 0.0) -> ObjectTransformer:
    torch.manual_seed(0)
    return create_object_transformer(
        DIM, hidden_dim=HIDDEN, num_layers=2, num_heads=4, ffn_dim=32, dropout=dropout, max_seconds=20, max_shots=8
    )


def _example(count: int, seed: int, tracks: int = 3, shots: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0.0, 0.5, size=(count, 2))
    return {
        "features": rng.normal(size=(count, DIM)).astype(np.float32),
        "box": np.concatenate([corner, corner + rng.uniform(0.1, 0.5, size=(count, 2))], axis=1),
        "sec": np.sort(rng.integers(0, 20, size=count)),
        "shot": np.sort(rng.integers(0, shots, size=count)) + 10,
        "track": rng.integers(0, tracks, size=count) + 100,
    }


def test_shapes_and_structure():
    model = _tiny()
    batch = collate_instances([_example(5, 0), _example(3, 1)], max_instances=16)
    pooled, outputs = model(batch)
    assert pooled.shape == (2, HIDDEN) and outputs.shape == (2, 5, HIDDEN)
    assert model.embed(batch)[0].shape == (2, 6, HIDDEN)  # start token + 5
    assert torch.all(outputs[1, 3:] == 0)  # padding rows are zeroed
    assert (pooled.abs() <= 1).all()  # tanh pooler
    layer = model.encoder.layers[0]
    assert len(model.encoder.layers) == 2 and not layer.norm_first and layer.self_attn.batch_first
    assert model.input_dim == DIM and model.hidden_dim == HIDDEN and model.instance_embedding.max_tracks == 256
    assert model.scene_proj is None and model.type_embedding is None  # the instance pathway alone


def test_padding_changes_neither_valid_outputs_nor_pooled_output():
    model = _tiny().eval()
    alone = collate_instances([_example(4, 0)], max_instances=16)
    # the same example beside a longer one, so it is padded from 4 to 9 instances
    beside = collate_instances([_example(4, 0), _example(9, 1)], max_instances=16)
    # and padded by hand with garbage in the invalid slots (out-of-range ids, huge features)
    pad = 3
    garbage = InstanceBatch(
        features=torch.cat([alone.features, 1e3 * torch.randn(1, pad, DIM)], dim=1),
        box=torch.cat([alone.box, torch.rand(1, pad, 4)], dim=1),
        sec=torch.cat([alone.sec, torch.full((1, pad), 999)], dim=1),
        shot=torch.cat([alone.shot, torch.full((1, pad), -5)], dim=1),
        track=torch.cat([alone.track, torch.full((1, pad), 10_000)], dim=1),
        valid=torch.cat([alone.valid, torch.zeros(1, pad, dtype=torch.bool)], dim=1),
    )
    with torch.no_grad():
        pooled, outputs = model(alone)
        for padded in (beside, garbage):
            pooled_pad, outputs_pad = model(padded)
            torch.testing.assert_close(pooled_pad[:1], pooled, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(outputs_pad[:1, :4], outputs, atol=1e-5, rtol=1e-5)


def test_ot_pp_padding_of_either_pathway_changes_nothing_and_its_instance_part_loads_pretrained_weights():
    pretrained = _tiny()
    torch.manual_seed(1)
    model = create_object_transformer(
        DIM,
        hidden_dim=HIDDEN,
        num_layers=2,
        num_heads=4,
        ffn_dim=32,
        dropout=0.0,
        max_seconds=20,
        max_shots=8,
        scene_dim=5,
    ).eval()
    load_instance_weights(model, pretrained.state_dict())
    rng = np.random.default_rng(0)
    scene = [{"features": rng.normal(size=(k, 5)), "sec": np.arange(k) * 3} for k in (4, 7)]
    alone = model(collate_instances([_example(4, 0)], 16), collate_scene(scene[:1]))
    # beside a longer example: the instances padded from 4 to 9, the scene tokens from 4 to 7
    beside = model(collate_instances([_example(4, 0), _example(9, 1)], 16), collate_scene(scene))
    torch.testing.assert_close(beside[0][:1], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(beside[1][:1, :4], alone[1][:, :4], atol=1e-5, rtol=1e-5)  # the instances' outputs
    torch.testing.assert_close(beside[1][:1, 9:13], alone[1][:, 4:], atol=1e-5, rtol=1e-5)  # the scene tokens'
    with pytest.raises(ValueError, match="reads"):
        model(collate_instances([_example(4, 0)], 16))  # OT++ needs both pathways
    with pytest.raises(ValueError, match="instance-only"):
        create_masked_instance_pretraining(model)
    with pytest.raises(ValueError, match="do not fit"):
        load_instance_weights(model, {**pretrained.state_dict(), "extra": torch.zeros(1)})


def test_out_of_range_ids_of_valid_instances_are_refused():
    model = _tiny().eval()
    batch = collate_instances([_example(4, 0)], max_instances=16)
    with pytest.raises(ValueError, match="sec"):
        model(replace(batch, sec=batch.sec + 20))
    with pytest.raises(ValueError, match="track"):
        model(replace(batch, track=batch.track + 256))


def test_collate_renumbers_shots_and_tracks_in_order_of_first_appearance():
    example = {
        "features": np.arange(6 * DIM, dtype=np.float32).reshape(6, DIM),
        "box": np.tile([0.1, 0.1, 0.5, 0.5], (6, 1)),
        "sec": np.array([3, 4, 4, 5, 7, 9]),
        "shot": np.array([40, 40, 41, 41, 41, 45]),
        "track": np.array([9, 2, 9, 7, 2, 9]),
    }
    batch = collate_instances([example], max_instances=16)
    assert batch.sec[0].tolist() == [3, 4, 4, 5, 7, 9]  # kept relative to the span start
    assert batch.shot[0].tolist() == [0, 0, 1, 1, 1, 2]
    assert batch.track[0].tolist() == [0, 1, 0, 2, 1, 0]
    assert batch.valid.all() and batch.features.dtype == torch.float32 and batch.sec.dtype == torch.long


def test_collate_sorts_by_time_and_permutes_tracks_with_a_generator():
    example = _example(30, 3, tracks=6)
    reversed_example = {key: value[::-1].copy() for key, value in example.items()}
    batch = collate_instances([reversed_example], max_instances=64)
    assert (batch.sec[0].diff() >= 0).all()
    plain = collate_instances([example], max_instances=64).track[0]
    seen = set()
    for seed in range(10):
        permuted = collate_instances([example], max_instances=64, generator=torch.Generator().manual_seed(seed))
        track = permuted.track[0]
        assert sorted(set(track.tolist())) == sorted(set(plain.tolist()))  # still 0..K-1
        same = plain[:, None] == plain[None, :]  # (m, m) identity equality is what is kept
        assert torch.equal(track[:, None] == track[None, :], same)
        seen.add(tuple(track.tolist()))
    assert len(seen) > 1


def test_collate_subsamples_evenly_in_time_order_and_allows_empty_examples():
    example = _example(50, 4)
    empty = {
        "features": np.zeros((0, DIM), np.float32),
        "box": np.zeros((0, 4)),
        "sec": np.zeros(0, int),
        "shot": np.zeros(0, int),
        "track": np.zeros(0, int),
    }
    batch = collate_instances([example, empty], max_instances=10)
    assert batch.features.shape == (2, 10, DIM)
    assert batch.valid[0].all() and not batch.valid[1].any()
    secs = batch.sec[0]
    assert (secs.diff() >= 0).all()
    assert secs[0] == example["sec"].min() and secs[-1] == example["sec"].max()  # first and last kept
    # the kept features are rows of the (time-ordered) example, in order
    rows = [int(np.flatnonzero((example["features"] == row).all(axis=1))[0]) for row in batch.features[0].numpy()]
    assert rows == sorted(rows) and len(set(rows)) == 10
    pooled, outputs = _tiny().eval()(batch)
    assert torch.isfinite(pooled).all() and torch.all(outputs[1] == 0)
    only_empty = collate_instances([empty], max_instances=10)
    assert only_empty.features.shape == (1, 0, DIM)
    assert torch.isfinite(_tiny().eval()(only_empty)[0]).all()


def test_box_jitter_only_in_training_mode():
    model = _tiny(dropout=0.0)
    batch = collate_instances([_example(6, 0), _example(4, 1)], max_instances=16)
    model.eval()
    with torch.no_grad():
        first, second = model(batch), model(batch)
    torch.testing.assert_close(first, second, atol=0, rtol=0)
    model.train()
    with torch.no_grad():
        train_a, train_b = model(batch), model(batch)
    assert not torch.allclose(train_a[0], train_b[0])
    # zero-size boxes cannot move: with dropout 0 the train outputs then agree with each other and with eval
    point = replace(batch, box=torch.cat([batch.box[..., :2], batch.box[..., :2]], dim=-1))
    with torch.no_grad():
        train_a, train_b = model(point), model(point)
        evaluated = model.eval()(point)
    torch.testing.assert_close(train_a, train_b)
    torch.testing.assert_close(train_a, evaluated, atol=1e-5, rtol=1e-5)


def test_track_mask_masks_whole_tracks_at_least_one_per_example_and_never_padding():
    track = torch.tensor([[0, 1, 0, 2, 1, 0, 0], [0, 0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    valid = torch.tensor([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]], dtype=torch.bool)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        mask = track_mask(track, valid, 0.15, generator)
        assert not (mask & ~valid).any()
        assert mask[0].any() and mask[1].any() and not mask[2].any()
        for b in range(2):
            for t in track[b][valid[b]].unique():
                members = mask[b][valid[b] & (track[b] == t)]
                assert members.all() or not members.any()


def test_track_mask_rate_is_prob_conditioned_on_at_least_one():
    prob, tracks, examples = 0.15, 4, 5000
    track = torch.arange(tracks).repeat(examples, 2)  # (examples, 8): each track twice
    valid = torch.ones_like(track, dtype=torch.bool)
    mask = track_mask(track, valid, prob, torch.Generator().manual_seed(1))
    rate = mask.float().mean().item()
    expected = prob / (1 - (1 - prob) ** tracks)  # E[fraction masked | at least one masked]
    assert rate == pytest.approx(expected, abs=0.01)
    many = torch.arange(60).repeat(500, 1)  # with many tracks the redraw hardly matters
    rate = track_mask(many, torch.ones_like(many, dtype=torch.bool), prob, torch.Generator().manual_seed(2))
    assert rate.float().mean().item() == pytest.approx(prob, abs=0.01)


def test_mask_codes_proportions():
    mask = torch.rand(400, 250, generator=torch.Generator().manual_seed(0)) < 0.5
    codes = mask_codes(mask, torch.Generator().manual_seed(1))
    assert torch.all((codes == KEEP) == ~mask)
    masked = codes[mask]
    for code, share in ((MASK_TOKEN, 0.8), (RANDOM_FEATURE, 0.1), (UNCHANGED, 0.1)):
        assert (masked == code).float().mean().item() == pytest.approx(share, abs=0.01)


def test_masked_instance_loss_matches_a_reference():
    rng = np.random.default_rng(0)
    predicted, target = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    terms = []
    for p, t in zip(predicted, target, strict=True):
        cosine = sum(a * b for a, b in zip(p, t, strict=True)) / (np.sqrt((p**2).sum()) * np.sqrt((t**2).sum()))
        terms.append(2 - 2 * cosine)
    loss = masked_instance_loss(torch.tensor(predicted), torch.tensor(target))
    assert loss.item() == pytest.approx(np.mean(terms), rel=1e-5)
    same = torch.tensor(predicted)
    assert masked_instance_loss(same, same).item() == pytest.approx(0.0, abs=1e-6)
    assert masked_instance_loss(same, 3 * same).item() == pytest.approx(0.0, abs=1e-6)  # scale does not matter
    empty = torch.zeros(0, 5, requires_grad=True)
    zero = masked_instance_loss(empty, torch.zeros(0, 5))
    assert zero.item() == 0.0 and zero.requires_grad
    with pytest.raises(ValueError):
        masked_instance_loss(torch.zeros(3, 5), torch.zeros(3, 4))


def _synthetic_examples(count: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Spans whose instance features are a span-wide code plus a function of the box: predictable from context."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(4, DIM))
    examples = []
    for _ in range(count):
        example = _example(int(rng.integers(6, 12)), int(rng.integers(1 << 30)), tracks=4)
        code = rng.normal(size=(1, DIM))  # shared by every instance of the span
        example["features"] = (code + example["box"] @ mixing).astype(np.float32)  # (m, D)
        examples.append(example)
    return examples


def test_pretraining_steps_reduce_the_loss_and_reach_the_feature_projection():
    model = _tiny(dropout=0.0)
    pretraining = create_masked_instance_pretraining(model)
    assert isinstance(pretraining, MaskedInstancePretraining)
    batch = collate_instances(_synthetic_examples(16, 0), max_instances=16, generator=torch.Generator().manual_seed(0))

    def evaluate() -> float:
        pretraining.eval()
        with torch.no_grad():
            return pretraining(batch, torch.Generator().manual_seed(123))[0].item()

    before = evaluate()
    optimizer = torch.optim.Adam(pretraining.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(7)
    pretraining.train()
    for step in range(25):
        loss, info = pretraining(batch, generator)
        assert info["masked"] >= 16  # at least one track of each example
        optimizer.zero_grad()
        loss.backward()
        if step == 0:
            assert model.instance_embedding.feature_proj.weight.grad.abs().sum() > 0
            assert model.instance_embedding.mask_token.grad.abs().sum() > 0
        optimizer.step()
    after = evaluate()
    assert after < 0.5 * before, (before, after)


def test_corruption_swaps_only_masked_features_for_features_of_the_batch():
    pretraining = create_masked_instance_pretraining(_tiny(), mask_prob=0.5)
    batch = collate_instances([_example(9, 0), _example(5, 1), _example(7, 2)], max_instances=16)
    pool = batch.features[batch.valid]  # (V, D)
    generator = torch.Generator().manual_seed(0)
    swapped_any = False
    for _ in range(20):
        corrupted, mask_token_at, mask = pretraining.corrupt(batch, generator)
        assert not (mask_token_at & ~mask).any() and mask.any()
        changed = (corrupted.features != batch.features).any(dim=-1)  # (B, M)
        assert not (changed & ~(mask & ~mask_token_at)).any()  # only the random-feature 10% change
        for row in corrupted.features[changed]:
            assert (pool == row).all(dim=1).any()
        swapped_any |= bool(changed.any())
        for name in ("box", "sec", "shot", "track", "valid"):
            assert torch.equal(getattr(corrupted, name), getattr(batch, name))
    assert swapped_any
