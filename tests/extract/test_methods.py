"""The pretraining modules: MoDist's momentum update and shuffled BN, and what `tiny` gives each method."""

from dataclasses import replace

import torch
from torch import nn

from hiermovie.extract.config import BACKBONE_PROFILES, backbone_profile
from hiermovie.extract.methods import MoDist, build_method, grouped_forward


def test_the_key_encoder_moves_towards_the_query_by_one_minus_m_per_update():
    method = build_method(backbone_profile("tiny", "modist"), num_classes=3)
    with torch.no_grad():
        for p in method.visual.parameters():
            p.fill_(1.0)
        for p in method.visual_key.parameters():
            p.fill_(0.0)
    method.update_momentum(0.99)
    key = next(method.visual_key.parameters())
    torch.testing.assert_close(key, torch.full_like(key, 0.01))  # m * 0 + (1 - m) * 1
    for _ in range(99):
        method.update_momentum(0.99)
    torch.testing.assert_close(key, torch.full_like(key, 1 - 0.99**100))  # the gap shrinks by m a step


def test_tiny_momentum_leaves_under_one_percent_of_the_initial_keys_after_a_tiny_run():
    """A 700-step run (4 tiny epochs on the demo's Kinetics part) must not end with half-random keys."""
    assert BACKBONE_PROFILES["tiny"].momentum ** 700 < 0.01
    assert BACKBONE_PROFILES["paper"].momentum == 0.999  # MaCLR's, for runs of ~10^5 steps


def bn_net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).train()


def test_grouped_forward_gives_each_row_the_statistics_of_its_shuffled_group_only():
    torch.manual_seed(0)
    net, x = bn_net(), torch.randn(8, 3)  # (B, 3)
    order = torch.tensor([3, 0, 6, 5, 1, 7, 2, 4])  # groups {3, 0, 6, 5} and {1, 7, 2, 4}
    out = grouped_forward(net, x, order, groups=2)  # (B, 4)
    torch.testing.assert_close(out[[3, 0, 6, 5]], net(x[[3, 0, 6, 5]]))
    changed = x.clone()
    changed[[1, 7, 2, 4]] += 5.0  # the other group
    torch.testing.assert_close(grouped_forward(net, changed, order, groups=2)[[3, 0, 6, 5]], out[[3, 0, 6, 5]])
    assert not torch.allclose(net(changed)[[3, 0, 6, 5]], net(x)[[3, 0, 6, 5]])  # whole-batch BN would leak


def test_modist_keys_are_computed_in_shuffled_groups_and_queries_in_the_whole_batch():
    config = backbone_profile("tiny", "modist")
    method = build_method(config, num_classes=3).train()
    seen = {"query": [], "key": []}
    method.visual.net.blocks[0].norm.register_forward_hook(lambda m, i, o: seen["query"].append(i[0].shape[0]))
    method.visual_key.net.blocks[0].norm.register_forward_hook(lambda m, i, o: seen["key"].append(i[0].shape[0]))
    b, t, s = 4, config.num_frames, 32
    views = torch.randn(b, 3, t, s, s), torch.randn(b, 3, t, s, s)
    motions = torch.randn(b, 1, t, s, s), torch.randn(b, 1, t, s, s)
    loss, _ = method(*views, *motions, torch.randperm(b))
    assert config.key_bn_groups == 2 and seen == {"query": [4], "key": [2, 2]}
    assert torch.isfinite(loss)


def test_tiny_gives_the_contrastive_methods_crops_and_flips():
    supervised = backbone_profile("tiny", "supervised")
    assert (supervised.crop_area, supervised.flip) == ((1.0, 1.0), False)
    for method in ("cvrl", "modist"):
        config = backbone_profile("tiny", method)
        assert config.method == method
        assert (config.crop_area, config.flip, config.epochs) == ((0.3, 1.0), True, 12)


def test_the_tiny_motion_network_has_the_papers_eight_stem_channels_on_its_input():
    config = backbone_profile("tiny", "modist")
    for motion_input, channels in (("grey_diff", 1), ("farneback", 3)):
        method = build_method(replace(config, motion_input=motion_input), num_classes=3)
        assert isinstance(method, MoDist)
        stem = method.motion.net.blocks[0].conv
        assert (stem.in_channels, stem.out_channels) == (channels, 8)
