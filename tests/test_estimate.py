"""The fake-tensor estimator: calibration against published A100 measurements, monotonic in batch, and the savings
of the lean attention and of checkpointing; the GPU table and the command."""

import functools
import json

import pytest

from sambook.__main__ import main as cli
from sambook.estimate.gpus import CONTEXT_RESERVE_MIB, GPUS, fits, gpu, min_step_seconds, table
from sambook.estimate.trace import Setting, estimate

# segment-anything-fast, experiments/results.csv: torch.cuda.max_memory_allocated of SAM ViT-B, 1024², batch 8,
# inference with the stock code on an A100 (MiB).
PUBLISHED_MIB = {"fp32": 19_934, "bf16": 10_003}


@functools.cache
def traced(**kwargs):
    return estimate(Setting(**kwargs))


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_calibration_vit_b_1024_batch8_inference_slowest(dtype):
    est = traced(model="sam", backbone="vit_b", batch=8, size=1024, dtype=dtype, inference=True)
    assert est.peak_mib == pytest.approx(PUBLISHED_MIB[dtype], rel=0.05)
    assert est.categories["gradients"] == 0 and est.categories["optimizer_state"] == 0


def test_lean_attention_goal_vit_b_1024_bf16_slowest():
    stock = traced(model="sam", backbone="vit_b", batch=8, size=1024, dtype="bf16", inference=True)
    lean = traced(model="sam", backbone="vit_b", batch=8, size=1024, dtype="bf16", inference=True, attention="lean")
    assert lean.peak_mib <= stock.peak_mib / 5
    assert lean.peak_mib < 1_703  # segment-anything-fast's Triton kernel, measured


@pytest.mark.parametrize("model", ["cmaa"])
def test_peak_grows_with_batch(model):
    small, large = (traced(model=model, backbone="mini", batch=b, size=64) for b in (2, 4))
    assert large.peak_bytes > small.peak_bytes
    assert large.categories["activations"] > small.categories["activations"]
    assert large.categories["parameters"] == small.categories["parameters"]
    assert large.flops == pytest.approx(2 * small.flops, rel=0.05)  # the encoder's FLOPs are per image


def test_training_step_has_gradients_and_optimizer_state():
    est = traced(model="cmaa", backbone="mini", batch=2, size=64)
    assert est.categories["optimizer_state"] > 0
    inference = traced(model="cmaa", backbone="mini", batch=2, size=64, inference=True)
    assert est.flops > 2 * inference.flops  # backward costs about twice the forward


def test_lean_attention_and_checkpointing_shrink_training_peak():
    base = dict(model="sam", backbone="mini", batch=2, size=128)  # 16x16 tokens, as ViT-B at 256²
    stock = traced(**base)
    lean = traced(**base, attention="lean")
    ckpt = traced(**base, checkpointing=True)
    assert lean.peak_bytes < stock.peak_bytes
    assert ckpt.peak_bytes < stock.peak_bytes
    # Checkpointed blocks keep only their inputs (the FLOP counter must not watch the memory pass: it kept them).
    assert ckpt.categories["activations"] < 0.6 * stock.categories["activations"]
    assert ckpt.flops > stock.flops  # the price: the encoder's forward runs twice


def test_bad_settings():
    with pytest.raises(ValueError, match="model"):
        estimate(Setting(model="unet", backbone="mini", size=64))
    with pytest.raises(ValueError, match="dtype"):
        estimate(Setting(model="sam", backbone="mini", size=64, dtype="fp8"))
    with pytest.raises(ValueError, match="batch"):
        estimate(Setting(model="sam", backbone="mini", size=64, batch=0))


def test_gpu_table():
    t4, a100 = gpu("T4"), gpu("A100 40GB")
    assert fits(15 * 1024 - CONTEXT_RESERVE_MIB, t4) and not fits(15 * 1024 - CONTEXT_RESERVE_MIB + 1, t4)
    assert min_step_seconds(312e12, a100, "bf16") == pytest.approx(1.0)
    assert min_step_seconds(1e12, t4, "bf16") is None  # Turing has no bf16
    rows = table(30_000, 1e12, "fp32")
    assert [r["gpu"] for r in rows] == [g.name for g in GPUS]
    assert [r["fits"] for r in rows] == [False, False, True, True, True]
    with pytest.raises(ValueError, match="T4"):
        gpu("V100")


def test_command_json_aftersam(capsys):
    argv = [
        "estimate",
        "--model",
        "aftersam",
        "--backbone",
        "mini",
        "--batch",
        "2",
        "--size",
        "64",
        "--slices",
        "3",
        "--json",
    ]
    assert cli(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["setting"]["slices"] == 3 and out["categories_mib"]["optimizer_state"] > 0
    assert out["peak_mib"] == pytest.approx(sum(out["categories_mib"].values()), abs=0.5)
    assert len(out["gpus"]) == len(GPUS) and "fragmentation" in out["left_out"]


def test_command_text(capsys):
    assert cli(["estimate", "--model", "sam", "--backbone", "mini", "--size", "64", "--inference"]) == 0
    out = capsys.readouterr().out
    assert "estimated peak memory" in out and "T4" in out and "CUDA context" in out
