"""``python -m sambook gpu-check``: on a CPU it runs every GPU path at the mini size, and its report says what ran,
where, on which code, and whether each check passed; a broken path makes it fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sambook.bench.gpu_check as gpu_check
from sambook.__main__ import main
from sambook.estimate.configs import gpu_configs

ROOT = Path(__file__).resolve().parent.parent
CPU = gpu_check.Plan.for_device(torch.device("cpu"), quick=True)


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("gpu_check") / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "sambook", "gpu-check", "--quick", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text()), result.stdout


def test_the_quick_report_names_what_ran_where(quick_report):
    report, stdout = quick_report
    assert report["command"].startswith("python -m sambook gpu-check --quick --json ")
    assert report["device"]["type"] == "cpu" and report["device"]["torch"] == torch.__version__
    assert report["device"]["cuda"] == torch.version.cuda
    assert len(report["code_version"]) >= 40 or report["code_version"] == "unknown"
    assert report["date"].endswith("+00:00") and report["quick"] and report["ok"]
    assert "all checks passed" in stdout and "lean vs stock" in stdout


def test_the_quick_report_trains_every_network_of_the_gpu_configs(quick_report):
    report, _ = quick_report
    ran = {row["config"] for row in report["configs"]}
    skipped = " ".join(report["skipped"])
    for path in gpu_configs():
        name = f"configs/gpu/{path.name}"
        assert name in ran or (name in skipped and path.name in gpu_check.SAME_NETWORK), name
    assert "configs/gpu/aftersam.yaml + {'attention': 'lean'}" in ran  # the T4 fix runs too
    for row in report["configs"]:
        assert row["status"] == "ok" and row["finite"] and row["backbone"] == "mini", row
        assert len(row["losses"]) == CPU.warmup + CPU.steps and row["seconds_per_step"] > 0
        assert row["measured_peak_mib"] is None and row["ratio_to_config_estimate"] is None  # no CUDA, no memory
    assert "max_memory_allocated needs CUDA" in skipped


def test_the_quick_report_checks_attention_cache_and_ddp(quick_report):
    report, _ = quick_report
    for dtype in ("fp32", "bf16"):
        for part in ("output", "input_gradient"):
            row = report["attention"][dtype][part]
            assert row["ok"] and row["lean_vs_stock_max_abs"] > 0  # two computations, not one
    assert report["attention"]["fp32"]["output"]["lean_vs_stock_max_abs"] < 1e-4
    cache = report["feature_cache"]
    assert cache["ok"] and cache["cached"]["model_device"] == "cpu"
    assert cache["cached"]["losses"] == pytest.approx(cache["uncached"]["losses"], rel=1e-4)  # fp32: exact
    encoded = cache["cached"]["slices_encoded_after_each_epoch"]
    assert 0 < encoded[0] <= encoded[-1] <= 2 * 4  # each slice of the two training volumes at most once
    ddp = report["ddp"]
    assert ddp["ok"] and ddp["world_size"] == 2 and ddp["backend"] == "gloo"
    assert ddp["weights_identical_across_ranks"] and ddp["devices"] == ["cpu", "cpu"]


def test_a_broken_build_fails_its_row_and_not_the_others(monkeypatch):
    def broken(cfg):
        raise RuntimeError("Tensor on device cpu is not on the expected device cuda:0!")

    monkeypatch.setattr(gpu_check, "build_model", broken)
    row = gpu_check.check_config(ROOT / "configs/gpu/sam_flair.yaml", CPU)
    assert row["status"] == "error" and not row["ok"] and "expected device" in row["error"]


def test_a_wrong_lean_attention_fails_the_attention_check(monkeypatch):
    set_attention = gpu_check.set_attention

    def without_bias(module, kind):  # lean attention that forgets the relative-position bias
        module = set_attention(module, kind)
        module.use_rel_pos = False
        return module

    assert gpu_check.check_attention(CPU)["ok"]
    monkeypatch.setattr(gpu_check, "set_attention", without_bias)
    assert not gpu_check.check_attention(CPU)["ok"]


def test_the_full_run_compares_with_a_fresh_estimate():
    plan = gpu_check.Plan.for_device(torch.device("cpu"), quick=False)
    row = gpu_check.check_config(ROOT / "configs/gpu/early.yaml", plan)
    assert row["ok"] and row["fresh_estimate_mib"] > 0 and len(row["losses"]) == plan.warmup + plan.steps
    assert row["config_estimate_mib"] is None  # the file's estimate is for ViT-B at 256 pixels, not this mini run


def test_the_report_is_not_overwritten_unless_asked(tmp_path):
    existing = tmp_path / "report.json"
    existing.write_text("{}")
    with pytest.raises(SystemExit, match="exists; pass --force"):
        main(["gpu-check", "--quick", "--json", str(existing)])
    assert existing.read_text() == "{}"
