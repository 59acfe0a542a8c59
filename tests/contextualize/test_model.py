"""TxE: shapes, unit-norm outputs, [MASK] replacement, learned positions, builder errors, checkpoint round trip."""

from dataclasses import replace

import pytest
import torch

from hiermovie.checkpoint import save_checkpoint
from hiermovie.contextualize.config import TXE_PROFILES, TxEConfig
from hiermovie.contextualize.model import TxE, create_txe, load_target_projection, load_txe
from hiermovie.errors import HiermovieError

TINY = replace(TXE_PROFILES["tiny"], input_dim=24, hidden_dim=16, num_layers=2, num_heads=4, ffn_dim=32)


def _features(batch: int = 3, seq_len: int = 5, dim: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, seq_len, dim, generator=torch.Generator().manual_seed(seed))


def test_shapes_and_unit_norm_outputs():
    model = create_txe(TINY)
    assert isinstance(model, TxE) and model.hidden_dim == 16 and model.seq_len == 5
    features = _features()
    assert model.project(features).shape == (3, 5, 16)
    outputs = model(features)
    assert outputs.shape == (3, 5, 16)
    torch.testing.assert_close(outputs.norm(dim=-1), torch.ones(3, 5))
    assert model(features[:, :3]).shape == (3, 3, 16)  # shorter windows use the first positions


def test_structure_follows_the_config():
    model = create_txe(TINY)
    assert len(model.encoder.layers) == 2
    layer = model.encoder.layers[0]
    assert layer.self_attn.num_heads == 4 and layer.self_attn.batch_first and not layer.norm_first
    assert layer.linear1.out_features == 32 and layer.dropout.p == TINY.dropout


def test_masked_positions_ignore_their_input():
    model = create_txe(TINY).eval()
    features = _features()
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[0, 1:3], mask[1, 4], mask[2, 0] = True, True, True
    changed = features.clone()
    changed[mask] = 100.0 * torch.randn(int(mask.sum()), 24)  # (masked, D): anything at the masked tokens
    with torch.no_grad():
        torch.testing.assert_close(model(changed, mask), model(features, mask))
        assert not torch.allclose(model(changed), model(features))  # without the mask the inputs do matter
        masked_token = model(features, mask)[0, 1]
        model.mask_token.add_(1.0)
        assert not torch.allclose(model(features, mask)[0, 1], masked_token)  # the [MASK] token is used


def test_position_embedding_and_mask_token_are_learned():
    model = create_txe(TINY)
    parameters = dict(model.named_parameters())
    assert parameters["position.weight"].shape == (5, 16) and parameters["position.weight"].requires_grad
    assert parameters["mask_token"].shape == (16,)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[:, 2] = True
    model(_features(batch=2), mask).sum().backward()
    assert model.position.weight.grad.abs().sum() > 0 and model.mask_token.grad.abs().sum() > 0
    with torch.no_grad():  # positions matter: permuting tokens does not just permute the outputs
        model.eval()
        features = _features(batch=1)
        permuted = model(features[:, [4, 3, 2, 1, 0]])[:, [4, 3, 2, 1, 0]]
        assert not torch.allclose(permuted, model(features), atol=1e-4)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"seq_len": 1}, "seq_len must be at least 2"),
        ({"hidden_dim": 18, "num_heads": 4}, "not divisible"),
        ({"num_layers": 0}, "positive"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_create_txe_refuses_bad_configs(changes, message):
    with pytest.raises(ValueError, match=message):
        create_txe(replace(TINY, **changes))


def test_forward_refuses_bad_inputs():
    model = create_txe(TINY)
    with pytest.raises(ValueError, match="features"):
        model(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="position embedding has only 5"):
        model(torch.randn(2, 6, 24))
    with pytest.raises(ValueError, match="mask"):
        model(torch.randn(2, 5, 24), torch.zeros(2, 5))


def test_load_txe_round_trip(tmp_path):
    config = replace(TINY, mask_sizes=(1, 2), dropout=0.0)
    model = create_txe(config)
    path = tmp_path / "txe.pt"
    save_checkpoint(path, kind="txe", config=config, step=0, txe=model.state_dict())
    loaded_config, loaded = load_txe(path)
    assert loaded_config == config and isinstance(loaded_config.mask_sizes, tuple)
    assert not loaded.training
    features, mask = _features(), torch.zeros(3, 5, dtype=torch.bool)
    mask[:, 1] = True
    with torch.no_grad():
        torch.testing.assert_close(loaded(features, mask), model.eval()(features, mask))


def test_the_target_projection_loads_from_new_and_older_checkpoints(tmp_path):
    model, ema = create_txe(TINY), torch.nn.Linear(TINY.input_dim, TINY.hidden_dim)
    ema_state = {f"target_projection.{k}": v for k, v in ema.state_dict().items()}
    save_checkpoint(tmp_path / "old.pt", kind="txe", config=TINY, step=0, txe=model.state_dict(), model=ema_state)
    save_checkpoint(
        tmp_path / "new.pt", kind="txe", config=TINY, step=0, txe=model.state_dict(), target_projection=ema.state_dict()
    )
    for name in ("old.pt", "new.pt"):
        torch.testing.assert_close(load_target_projection(tmp_path / name).weight, ema.weight)
    live = replace(TINY, target="live")
    save_checkpoint(tmp_path / "live.pt", kind="txe", config=live, step=0, txe=model.state_dict(), model={})
    torch.testing.assert_close(load_target_projection(tmp_path / "live.pt").weight, model.input_proj.weight)
    save_checkpoint(tmp_path / "lost.pt", kind="txe", config=TINY, step=0, txe=model.state_dict(), model={})
    with pytest.raises(HiermovieError, match="without its target projection"):
        load_target_projection(tmp_path / "lost.pt")


def test_load_txe_turns_stored_lists_back_into_tuples(tmp_path):
    config = replace(TINY, mask_sizes=(1, 3))
    model = create_txe(config)
    save_checkpoint(tmp_path / "txe.pt", kind="txe", config=config, step=0, txe=model.state_dict())
    payload = torch.load(tmp_path / "txe.pt", weights_only=True)
    payload["config"]["mask_sizes"] = [1, 3]  # as a config that went through JSON
    torch.save(payload, tmp_path / "txe.pt")
    loaded_config, _ = load_txe(tmp_path / "txe.pt")
    assert loaded_config == config and loaded_config.mask_sizes == (1, 3)


def test_load_txe_drops_the_retired_faiss_refresh_field(tmp_path):
    model = create_txe(TINY)
    save_checkpoint(tmp_path / "txe.pt", kind="txe", config=TINY, step=0, txe=model.state_dict())
    payload = torch.load(tmp_path / "txe.pt", weights_only=True)
    payload["config"]["faiss_refresh"] = 50  # as a checkpoint of a version whose FAISS index lagged the queue
    torch.save(payload, tmp_path / "txe.pt")
    loaded_config, _ = load_txe(tmp_path / "txe.pt")
    assert loaded_config == TINY


def test_load_txe_refuses_other_kinds_and_unknown_fields(tmp_path):
    model = create_txe(TINY)
    save_checkpoint(tmp_path / "other.pt", kind="backbone", config=TINY, step=0, txe=model.state_dict())
    with pytest.raises(HiermovieError, match="expected 'txe'"):
        load_txe(tmp_path / "other.pt")
    torch.save(
        {"format": 1, "kind": "txe", "config": {"hidden_dim": 16, "bogus": 1}, "step": 0, "txe": {}},
        tmp_path / "future.pt",
    )
    with pytest.raises(HiermovieError, match="bogus"):
        load_txe(tmp_path / "future.pt")


def test_tiny_profile_builds():
    model = create_txe(TXE_PROFILES["tiny"])
    assert model(torch.randn(2, 5, TXE_PROFILES["tiny"].input_dim)).shape == (2, 5, 128)
    assert isinstance(TXE_PROFILES["tiny"], TxEConfig)
