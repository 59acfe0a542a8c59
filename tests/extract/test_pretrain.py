"""Backbone training end to end on the tiny benchmark: each method trains and resumes to the same
losses, unreadable videos are skipped and counted, DDP replicas stay in sync under torchrun, and the
gathered NT-Xent's gradient over 2 ranks is the 1-process gradient."""

import shutil
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from hiermovie.checkpoint import save_checkpoint
from hiermovie.datasets.video_folder import load_video_folder
from hiermovie.distributed import gather_rows, replicas_in_sync
from hiermovie.errors import HiermovieError
from hiermovie.extract.config import BACKBONE_PROFILES, VERB_FINETUNE_PROFILES, backbone_profile
from hiermovie.extract.data import decode_into_memory
from hiermovie.extract.losses import nt_xent_loss
from hiermovie.extract.pretrain import PretrainOptions, make_views, pretrain
from hiermovie.extract.verbs import VerbRunOptions, finetune_verbs, load_backbone, probe_backbones, probe_verbs
from hiermovie.runlog import read_log

TINY = replace(BACKBONE_PROFILES["tiny"], batch_size=4, epochs=2)


def losses(run) -> list[float]:
    return [r["loss"] for r in read_log(run / "log.jsonl") if "loss" in r]


def cli_pretrain(benchmark, out, *extra: str) -> list[str]:
    """Arguments of `hiermovie backbone pretrain` on the tiny benchmark's clips, tiny profile, CPU."""
    return [
        "backbone",
        "pretrain",
        "--data",
        str(benchmark / "kinetics" / "train"),
        "--out",
        str(out),
        "--profile",
        "tiny",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--workers",
        "0",
        *extra,
    ]


def train(data, out, steps, method="cvrl", workers=0, motion_input="grey_diff", **options):
    config = replace(TINY, method=method, motion_input=motion_input)
    return pretrain(
        config, data, out, PretrainOptions(device="cpu", workers=workers, max_steps=steps, progress=False, **options)
    )


@pytest.mark.parametrize("method", ["cvrl", "modist", "supervised"])
def test_each_method_trains_and_resumes_to_the_same_losses(tiny_benchmark, tmp_path, method):
    data = tiny_benchmark / "kinetics" / "train"
    train(data, tmp_path / "interrupted", 2, method)
    result = train(data, tmp_path / "interrupted", 3, method)  # resumes at step 2
    train(data, tmp_path / "straight", 3, method)
    assert result["step"] == 3 and (tmp_path / "interrupted" / "loss.png").stat().st_size > 0
    assert losses(tmp_path / "interrupted") == losses(tmp_path / "straight")
    assert all(torch.isfinite(torch.tensor(losses(tmp_path / "straight"))))
    checkpoint = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    assert checkpoint["kind"] == "backbone" and checkpoint["step"] == 3 and "backbone" in checkpoint


def test_modist_with_farneback_flow(tiny_benchmark, tmp_path):
    result = train(tiny_benchmark / "kinetics" / "train", tmp_path / "run", 1, "modist", motion_input="farneback")
    assert result["step"] == 1 and {"loss_vv", "loss_vm", "loss_mv"} <= set(read_log(tmp_path / "run" / "log.jsonl")[0])


def test_unreadable_videos_are_skipped_and_counted_unless_strict(tiny_benchmark, tmp_path):
    data = tmp_path / "videos"
    shutil.copytree(tiny_benchmark / "kinetics" / "train", data)
    broken = sorted(data.rglob("*.mp4"))[0]
    broken.write_bytes(b"")
    result = train(data, tmp_path / "run", 3)
    assert result["skipped"] == 1 and broken.name in (tmp_path / "run" / "skipped.txt").read_text()
    with pytest.raises(HiermovieError, match="empty file.*--strict"):  # raised from a decoding worker process
        train(data, tmp_path / "strict", 3, strict=True, workers=1)


def test_videos_decoded_into_memory_give_the_losses_of_decoding_each_step(tiny_benchmark, tmp_path):
    data = tiny_benchmark / "kinetics" / "train"
    assert not train(data, tmp_path / "decoded", 3, "supervised", workers=0)["decoded_into_memory"]
    assert train(data, tmp_path / "in_memory", 3, "supervised", workers=None)["decoded_into_memory"]  # workers unset
    assert losses(tmp_path / "in_memory") == losses(tmp_path / "decoded")
    videos = load_video_folder(data)
    frames = decode_into_memory(videos, 64, jobs=2, budget_bytes=2**30, progress=False)
    assert set(frames) == {video.path for video in videos} and frames[videos[0].path].shape[1:] == (64, 64, 3)
    assert decode_into_memory(videos, 64, jobs=2, budget_bytes=2**20, progress=False) is None  # over the budget


def test_an_unreadable_video_in_memory_is_skipped_as_when_decoding(tiny_benchmark, tmp_path):
    data = tmp_path / "videos"
    shutil.copytree(tiny_benchmark / "kinetics" / "train", data)
    broken = sorted(data.rglob("*.mp4"))[1]
    broken.write_bytes(b"")
    result = train(data, tmp_path / "run", 3, workers=None)
    assert result["skipped"] == 1 and broken.name in (tmp_path / "run" / "skipped.txt").read_text()
    with pytest.raises(HiermovieError, match="empty file.*--strict"):
        train(data, tmp_path / "strict", 3, strict=True, workers=None)


def test_a_changed_config_is_not_resumed(tiny_benchmark, tmp_path):
    train(tiny_benchmark / "kinetics" / "train", tmp_path / "run", 1)
    with pytest.raises(HiermovieError, match="another config.*lr"):
        pretrain(
            replace(TINY, lr=0.5),
            tiny_benchmark / "kinetics" / "train",
            tmp_path / "run",
            PretrainOptions(device="cpu", workers=0, max_steps=2, progress=False),
        )


def test_unknown_method_and_wrong_checkpoint_kind_are_refused(tiny_benchmark, tmp_path):
    with pytest.raises(HiermovieError, match="unknown method 'simclr'"):
        pretrain(replace(TINY, method="simclr"), tiny_benchmark / "kinetics" / "train", tmp_path / "run")
    save_checkpoint(tmp_path / "txe.pt", kind="txe", config=TINY, step=0)
    with pytest.raises(HiermovieError, match="a 'txe' checkpoint; expected 'backbone'"):
        load_backbone(TINY, tmp_path / "txe.pt")


def test_verb_finetuning_and_probe_score_vidsitu_metrics(tiny_benchmark, tmp_path):
    vidsitu = tiny_benchmark / "vidsitu"
    options = VerbRunOptions(device="cpu", workers=0, max_steps=2, progress=False)
    result = finetune_verbs(TINY, VERB_FINETUNE_PROFILES["tiny"], vidsitu, tmp_path / "ft", options=options)
    assert result["step"] == 2 and 0 <= result["acc1"] <= result["acc5"] <= 1
    probe = probe_verbs(
        TINY,
        VERB_FINETUNE_PROFILES["tiny"],
        vidsitu,
        tmp_path / "ft" / "checkpoint.pt",
        options=replace(options, max_steps=None),
    )
    assert 0 <= probe["acc1"] <= probe["acc5"] <= 1
    # several backbones probed over one decode of the clips score exactly as each probed alone
    sources = {"random": (None, None), "finetuned": (tmp_path / "ft" / "checkpoint.pt", None)}
    together = probe_backbones(TINY, VERB_FINETUNE_PROFILES["tiny"], vidsitu, sources, replace(options, max_steps=None))
    alone = probe_verbs(TINY, VERB_FINETUNE_PROFILES["tiny"], vidsitu, options=replace(options, max_steps=None))
    assert together == {"random": alone, "finetuned": probe}


@pytest.mark.parametrize("method", ["cvrl", "modist"])
def test_two_process_torchrun_keeps_replicas_in_sync(tiny_benchmark, tmp_path, method, torchrun):
    """MoDist too: its key encoders, updated by momentum and never by the optimiser, and its queues, filled
    with every rank's keys, must stay identical on both ranks."""
    out = tmp_path / "ddp"
    torchrun(cli_pretrain(tiny_benchmark, out, "--max-steps", "2", "--method", method), tmp_path / "logs")
    records = read_log(out / "log.jsonl")
    assert [r["step"] for r in records if "loss" in r] == [1, 2]
    assert records[-1] == {"step": 2, "replicas_in_sync": True}


def _diverge(rank: int, store: str, results) -> None:
    torch_dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    model = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(model.weight, 1.0)
    torch.nn.init.constant_(model.bias, 0.0)
    same = replicas_in_sync(model)
    with torch.no_grad():
        model.bias.fill_(float(rank))
    results[rank] = (same, replicas_in_sync(model))
    torch_dist.destroy_process_group()


def test_the_sync_check_detects_diverged_replicas(tmp_path):
    results = mp.Manager().dict()
    mp.spawn(_diverge, args=(str(tmp_path / "store"), results), nprocs=2)  # a file store: no port to race for
    assert dict(results) == {0: (True, False), 1: (True, False)}


def _global_views() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two views of a global batch of 8 and the weight of a shared linear head. (8, 6), (8, 6), (5, 6)"""
    generator = torch.Generator().manual_seed(0)
    x_a, x_b, weight = (
        torch.randn(*shape, generator=generator, dtype=torch.float64) for shape in ((8, 6), (8, 6), (5, 6))
    )
    return x_a, x_b, weight


def _cross_rank_nt_xent_grad(rank: int, store: str, out: str) -> None:
    """Half of the global batch per rank, CVRL's gathered NT-Xent, then DDP's mean of the head's gradient."""
    torch_dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=2, timeout=timedelta(seconds=30)
    )
    x_a, x_b, weight = _global_views()
    weight.requires_grad_()
    rows = slice(4 * rank, 4 * (rank + 1))
    z_a, z_b = F.normalize(x_a[rows] @ weight.T, dim=1), F.normalize(x_b[rows] @ weight.T, dim=1)  # (4, 5)
    all_a, offset = gather_rows(z_a)  # (8, 5)
    all_b, _ = gather_rows(z_b)
    nt_xent_loss(z_a, z_b, 0.2, all_a, all_b, offset).backward()
    torch_dist.all_reduce(weight.grad)
    with torch.no_grad():  # as the queue callers: integer ids, no graph
        ids, _ = gather_rows(torch.arange(4) + 4 * rank)  # (8,)
    if rank == 0:
        torch.save({"grad": weight.grad / 2, "all_a": all_a.detach(), "ids": ids}, out)
    torch_dist.destroy_process_group()


def test_two_rank_nt_xent_gradient_is_the_one_process_gradient(tmp_path):
    """DDP's mean over 2 ranks of the gathered NT-Xent's gradient is the 1-process gradient on the global batch."""
    out = tmp_path / "rank0.pt"
    context = mp.start_processes(
        _cross_rank_nt_xent_grad, args=(str(tmp_path / "store"), str(out)), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + 60
    while not context.join(timeout=max(deadline - time.monotonic(), 0.1)):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the 2-process run did not finish in 60 s")
    x_a, x_b, weight = _global_views()
    weight.requires_grad_()
    z_a, z_b = F.normalize(x_a @ weight.T, dim=1), F.normalize(x_b @ weight.T, dim=1)  # (8, 5)
    nt_xent_loss(z_a, z_b, 0.2).backward()
    got = torch.load(out)
    torch.testing.assert_close(got["all_a"], z_a.detach(), rtol=1e-12, atol=0)
    assert got["ids"].tolist() == list(range(8))
    torch.testing.assert_close(got["grad"], weight.grad, rtol=1e-9, atol=1e-12)


def test_cli_pretrain_reports_a_bad_method(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hiermovie",
            "backbone",
            "pretrain",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--method",
            "byol",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Invalid value for '--method'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_continues_to_the_same_losses(tiny_benchmark, tmp_path, kill_when):
    def command(out):
        return [
            sys.executable,
            "-m",
            "hiermovie",
            *cli_pretrain(tiny_benchmark, out, "--epochs", "3", "--checkpoint-every", "1"),
        ]

    killed = kill_when(command(tmp_path / "killed"), lambda: len(read_log(tmp_path / "killed" / "log.jsonl")) >= 4)
    assert killed.mid_run, killed.stderr
    assert len(read_log(tmp_path / "killed" / "log.jsonl")) < 9
    for out in (tmp_path / "killed", tmp_path / "straight"):
        subprocess.run(command(out), check=True, capture_output=True)
    assert losses(tmp_path / "killed") == losses(tmp_path / "straight") and len(losses(tmp_path / "straight")) == 9


def test_optimizer_choice_follows_the_config_and_an_unknown_one_is_refused():
    from hiermovie.extract.pretrain import make_optimizer

    parameters = [torch.nn.Parameter(torch.zeros(3))]
    assert isinstance(make_optimizer(replace(TINY, optimizer="sgd"), parameters), torch.optim.SGD)
    adam = make_optimizer(TINY, parameters)
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["lr"] == TINY.lr
    with pytest.raises(HiermovieError, match="unknown optimizer 'lamb'"):
        make_optimizer(replace(TINY, optimizer="lamb"), parameters)


def test_rerunning_a_finished_run_returns_its_summary_unchanged(tiny_benchmark, tmp_path):
    data = tiny_benchmark / "kinetics" / "train"
    first = train(data, tmp_path / "run", None, "supervised")
    written = (tmp_path / "run" / "summary.json").read_text()
    again = train(data, tmp_path / "run", None, "supervised")
    assert again == first and "loss" in again and again["chance_loss"] > 0
    assert (tmp_path / "run" / "summary.json").read_text() == written


# ---------------------------------------------------------------- the views each method trains on
def views_of(frames: torch.Tensor, config, seed: int = 0, flow: torch.Tensor | None = None) -> tuple:
    """`make_views` of uint8 frames (B, 2, T, H, W, 3) on the CPU with a seeded generator."""
    batch = {"clips": frames, "labels": torch.zeros(len(frames), dtype=torch.long)}
    if flow is not None:
        batch["flow"] = flow
    return make_views(batch, config, torch.Generator().manual_seed(seed), torch.device("cpu"))


def test_modist_queries_come_from_both_view_policies():
    """View 2 alone solarises (p 0.2): a bright grey clip comes out dark. Before, every query was view 1."""
    config = replace(backbone_profile("tiny", "modist"), crop_size=16, color_strength=0.0, flip=False)
    frames = torch.full((64, 2, config.num_frames, 16, 16, 3), 230, dtype=torch.uint8)  # 0.9 grey
    query, key, motion_query, motion_key, key_order = views_of(frames, config)
    dark = (query.mean(dim=(1, 2, 3, 4)) < 0).sum().item(), (key.mean(dim=(1, 2, 3, 4)) < 0).sum().item()
    assert dark[0] > 0 and dark[1] > 0  # solarised clips among the queries and among the keys
    assert sorted(key_order.tolist()) == list(range(64))


def moving_square(colour: tuple[int, int, int], b: int = 4, t: int = 8, size: int = 32) -> torch.Tensor:
    """uint8 (B, 2, T, size, size, 3): a square of `colour` moving right 2 px a frame on a grey set."""
    frames = torch.full((b, 2, t, size, size, 3), 60, dtype=torch.uint8)
    for i in range(t):
        frames[:, :, i, 10:18, 4 + 2 * i : 12 + 2 * i] = torch.tensor(colour, dtype=torch.uint8)
    return frames


def test_a_colour_swap_of_the_character_leaves_the_motion_input_unchanged():
    """Red or green (both brighter than the set) changes the views, not the motion clips: MoDist's motion
    pathway must not be matched to the visual one by the character's colour."""
    config = replace(backbone_profile("tiny", "modist"), crop_size=32)
    red, green = moving_square((200, 40, 60)), moving_square((0, 117, 81))  # luma 90 and 78
    with_red, with_green = views_of(red, config), views_of(green, config)
    assert not torch.allclose(with_red[0], with_green[0])
    for motion_red, motion_green in zip(with_red[2:4], with_green[2:4], strict=True):
        assert motion_red.shape[1] == 1
        torch.testing.assert_close(motion_red, motion_green, atol=0.02, rtol=0)


def test_flow_gets_the_crop_and_flip_of_its_view_with_dx_negated_when_mirrored():
    """A bar at a quarter of the width, its flow +1 px on the bar only: after each view's crop and flip the
    flow's bar sits where the view's bar is, and points left exactly when the clip was mirrored."""
    b, t, size = 32, 8, 32
    config = replace(backbone_profile("tiny", "modist"), crop_size=size, crop_area=(0.9, 1.0), color_strength=0.0)
    config = replace(config, motion_input="farneback")
    frames = torch.zeros(b, 2, t, size, size, 3, dtype=torch.uint8)
    frames[..., 6:10, :] = 100  # bar columns 6..9, below the solarisation threshold
    flow = torch.zeros(b, 2, t, size, size, 3)
    flow[..., 6:10, 0], flow[..., 6:10, 2] = 1.0, 1.0
    query, key, motion_query, motion_key, _ = views_of(frames, config, flow=flow)
    for view, motion in ((query, motion_query), (key, motion_key)):
        view_column = view.mean(dim=(1, 2, 3)).argmax(dim=1)  # (B,) brightest column of each view
        motion_column = motion[:, 2].mean(dim=(1, 2)).argmax(dim=1)  # (B,) strongest flow column
        assert (view_column - motion_column).abs().max() <= 1
        mirrored = view_column > size // 2  # the bar started in the left half
        dx = motion[:, 0].sum(dim=(1, 2, 3))  # (B,)
        assert 0 < mirrored.sum() < b and ((dx < 0) == mirrored).all()


def test_the_two_cvrl_views_of_the_same_frames_differ():
    config = replace(backbone_profile("tiny", "cvrl"), crop_size=32)
    view_a, view_b = views_of(moving_square((200, 40, 60)), config)
    assert not torch.allclose(view_a, view_b)


def test_epoch_end_sees_the_backbone_after_every_epoch_and_its_numbers_are_logged(tiny_benchmark, tmp_path):
    seen = []

    def epoch_end(epoch, backbone):
        seen.append((epoch, type(backbone).__name__, backbone.training))
        return {"probe": float(epoch)}

    data = tiny_benchmark / "kinetics" / "train"
    steps_per_epoch = len(load_video_folder(data)) // TINY.batch_size
    train(data, tmp_path / "run", 2 * steps_per_epoch, "supervised", epoch_end=epoch_end)
    assert seen == [(0, "SlowD", True), (1, "SlowD", True)]
    logged = [r["probe"] for r in read_log(tmp_path / "run" / "log.jsonl") if "probe" in r]
    assert logged == [0.0, 1.0]
