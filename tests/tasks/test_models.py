import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.model import create_txe
from hiermovie.tasks.config import TASK_PROFILES
from hiermovie.tasks.decoding import greedy_decode
from hiermovie.tasks.models import (
    EventEncoder,
    RelationClassifier,
    TxDCache,
    create_relation_classifier,
    create_role_captioner,
    create_txd,
    create_verb_classifier,
    sinusoidal_positions,
)

CONFIG = replace(TASK_PROFILES["tiny"], dropout=0.0, decoder_dim=16, decoder_ffn=32, decoder_heads=2, head_hidden=8)
TXE = replace(TXE_PROFILES["tiny"], input_dim=12, hidden_dim=16, num_heads=2, ffn_dim=32, dropout=0.0)


def test_heads_give_one_output_per_event_and_per_pair():
    torch.manual_seed(0)
    features = torch.randn(3, 5, 12)  # (B, 5, D)
    assert create_verb_classifier(EventEncoder(12), 7, CONFIG)(features).shape == (3, 5, 7)
    assert create_relation_classifier(EventEncoder(12, create_txe(TXE)), CONFIG)(features).shape == (3, 4, 4)


def test_relation_pairs_are_vidsitus_ev1_ev3_ev2_ev3_ev3_ev4_ev3_ev5():
    features = torch.arange(5.0).view(1, 5, 1)  # event k has the feature k
    pairs = RelationClassifier(encoder=EventEncoder(1), head=nn.Identity())(features)  # (1, 4, 2)
    assert pairs[0].tolist() == [[0.0, 2.0], [1.0, 2.0], [2.0, 3.0], [2.0, 4.0]]


def test_txe_encoder_reads_the_unnormalised_contextualised_outputs():
    torch.manual_seed(0)
    txe = create_txe(TXE).eval()
    features = torch.randn(2, 5, 12)
    events = EventEncoder(12, txe)(features)  # (2, 5, 16)
    assert torch.allclose(nn.functional.normalize(events, dim=-1), txe(features), atol=1e-6)
    assert not torch.allclose(events.norm(dim=-1), torch.ones(2, 5))
    with pytest.raises(ValueError, match="12-d"):
        EventEncoder(10, txe)


def test_txd_is_causal_and_ignores_nothing_before_a_token():
    torch.manual_seed(0)
    txd = create_txd(CONFIG, vocab_size=20, pad_id=0).eval()
    memory = torch.randn(2, 1, 16)
    tokens = torch.randint(1, 20, (2, 7))
    changed = tokens.clone()
    changed[:, 4:] = torch.randint(1, 20, (2, 3))
    logits, logits_changed = txd(tokens, memory), txd(changed, memory)  # (2, 7, 20)
    assert torch.allclose(logits[:, :4], logits_changed[:, :4], atol=1e-5)  # the future is not seen
    assert not torch.allclose(logits[:, 4:], logits_changed[:, 4:])
    assert not torch.allclose(txd(tokens, memory + 1.0), logits)  # the memory is seen


def test_cached_keys_and_values_give_the_logits_of_the_whole_prefix():
    torch.manual_seed(0)
    txd = create_txd(replace(CONFIG, decoder_layers=2), vocab_size=20, pad_id=0).eval()
    memory = torch.randn(4, 3, 16)  # (B, M, H): more than one memory token, so cross-attention is tested too
    tokens = torch.randint(1, 20, (4, 9))
    cache, rows = TxDCache(txd, memory, max_len=9), torch.arange(4)
    assert torch.allclose(cache(tokens[:, :3], rows), txd(tokens[:, :3], memory)[:, -1], atol=1e-5)
    for end in range(4, 10):  # one new position per call; a row subset, as greedy decoding passes the live rows
        live = rows if end < 7 else torch.tensor([0, 2])
        expected = txd(tokens[live, :end], memory[live])[:, -1]  # (B', 20)
        assert torch.allclose(cache(tokens[live, :end], live), expected, atol=1e-5)
    with pytest.raises(ValueError, match="eval mode"):
        TxDCache(txd.train(), memory, 9)


def test_the_cache_runs_finished_rows_along_until_a_quarter_ended_then_frees_them():
    torch.manual_seed(2)
    txd = create_txd(CONFIG, vocab_size=20, pad_id=0).eval()
    memory = torch.randn(8, 1, 16)  # one memory token: the cross-attention shortcut
    tokens = torch.randint(1, 20, (8, 8))
    cache = TxDCache(txd, memory, max_len=8)
    schedule = {3: range(8), 4: [0, 1, 2, 3, 4, 5, 7], 5: [0, 1, 3, 5, 7], 6: [1, 3, 5], 7: [1, 3, 5]}
    held = []
    for end, live in schedule.items():  # 7 of 8 asked (all 8 held), then 5 of 8 and 3 of 5 (the rest freed)
        live = torch.tensor(list(live))
        expected = txd(tokens[live, :end], memory[live])[:, -1]  # (B', 20)
        assert torch.allclose(cache(tokens[live, :end], live), expected, atol=1e-5)
        held.append(len(cache.rows))
    assert held == [8, 8, 5, 3, 3]
    with pytest.raises(ValueError, match="subset"):
        cache(tokens[[0, 1], :8], torch.tensor([0, 1]))  # row 0 ended and was freed


def test_greedy_decoding_with_the_cache_equals_decoding_with_the_plain_forward():
    torch.manual_seed(1)
    txd = create_txd(CONFIG, vocab_size=12, pad_id=0).eval()
    memory = torch.randn(6, 1, 16)
    prefix = torch.stack([torch.full((6,), 1), torch.randint(3, 12, (6,))], 1)  # [bos, verb]

    def plain(tokens, rows):
        return txd(tokens, memory[rows])[:, -1]

    expected = greedy_decode(plain, prefix, 20, eos_id=2, pad_id=0)
    assert torch.equal(greedy_decode(TxDCache(txd, memory, 20), prefix, 20, eos_id=2, pad_id=0), expected)


def test_each_event_decodes_from_its_own_vector_unless_txe_mixes_them():
    torch.manual_seed(0)
    features = torch.randn(1, 5, 12)
    other = features.clone()
    other[0, 1] += 3.0  # change Ev2 only
    tokens = torch.randint(1, 20, (5, 6))
    alone = create_role_captioner(EventEncoder(12), 20, 0, CONFIG).eval()
    first, second = alone(features, tokens), alone(other, tokens)  # (5, 6, 20)
    assert torch.allclose(first[[0, 2, 3, 4]], second[[0, 2, 3, 4]]) and not torch.allclose(first[1], second[1])
    context = create_role_captioner(EventEncoder(12, create_txe(TXE)), 20, 0, CONFIG).eval()
    assert not torch.allclose(context(features, tokens)[0], context(other, tokens)[0])  # Ev1 sees Ev2 through TxE


def test_the_visual_blind_captioner_sees_no_video():
    torch.manual_seed(0)
    blind = create_role_captioner(None, 20, 0, CONFIG).eval()
    tokens = torch.randint(1, 20, (5, 6))
    assert torch.equal(blind(torch.randn(1, 5, 12), tokens), blind(torch.randn(1, 5, 12), tokens))
    assert not any("memory_proj" in name for name, _ in blind.named_parameters())


def test_sinusoidal_positions_are_fairseqs_sin_half_then_cos_half():
    table = sinusoidal_positions(10, 8)  # (10, 8)
    step = math.log(10000.0) / 3
    assert table[7, 1].item() == pytest.approx(math.sin(7 * math.exp(-step)), abs=1e-6)
    assert table[7, 4 + 2].item() == pytest.approx(math.cos(7 * math.exp(-2 * step)), abs=1e-6)
    assert sinusoidal_positions(4, 7).shape == (4, 7)
