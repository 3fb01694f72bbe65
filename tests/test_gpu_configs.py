"""configs/gpu/: every paper experiment is there, loads, builds on fake tensors, and its memory annotation holds."""

import pytest
import torch
import yaml
from torch._subclasses.fake_tensor import FakeTensorMode

from sambook.config import load_config
from sambook.estimate.configs import GPU_CONFIGS, check, gpu_configs, load, setting
from sambook.estimate.trace import build

TABLE1 = {"sam_t1", "sam_t1ce", "sam_t2", "sam_flair", "early", "cmaa"}


def test_every_experiment_has_a_config():
    assert {p.stem for p in gpu_configs()} == TABLE1 | {"aftersam"}


@pytest.mark.parametrize("path", gpu_configs(), ids=lambda p: p.stem)
def test_config_loads_and_builds_on_fake_tensors(path):
    config = load(path)
    if path.stem in TABLE1:
        cfg = load_config(path)  # the train command reads it
        assert (cfg.backbone, cfg.image_size, cfg.batch_size, cfg.lr) == ("vit_b", 256, 24, 1e-3)
    else:
        assert (config["neighbours"], config["interval"], config["fusion_blocks"]) == (8, 1, 6)
    with FakeTensorMode(), torch.device("cpu"):
        model = build(setting(config))
    assert sum(p.numel() for p in model.parameters()) > 90e6  # ViT-B and more
    noted = config["estimate"]
    assert noted["fits_t4"] or noted["t4_fix"]["fits_t4"]
    assert noted["command"].startswith("python -m sambook estimate")


def test_annotation_holds_cmaa_slowest():
    assert check(GPU_CONFIGS / "cmaa.yaml") == []


def test_annotation_holds_aftersam_and_its_t4_fix_slowest():
    assert check(GPU_CONFIGS / "aftersam.yaml") == []


def test_check_catches_a_wrong_annotation(tmp_path):
    config = {
        "model": "sam",
        "backbone": "mini",
        "image_size": 64,
        "batch_size": 2,
        "dtype": "fp32",
        "estimate": {"peak_mib": 99_999, "fits_t4": True},
    }
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(config))
    problems = check(path)
    assert len(problems) == 1 and "99999" in problems[0] and "wrong.yaml" in problems[0]


def test_not_a_config(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="list.yaml"):
        load(path)
