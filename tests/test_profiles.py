from __future__ import annotations

import pytest

from sambook import profiles


def test_environment_variable_selects_profile(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "gpu")
    assert profiles.get_profile().name == "gpu"
    monkeypatch.setenv(profiles.ENV_VAR, "ci")
    assert profiles.get_profile().name == "ci"


def test_argument_wins_over_environment(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "ci")
    assert profiles.get_profile("cpu").name == "cpu"


def test_default_without_gpu_is_cpu(monkeypatch):
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert profiles.get_profile().name == "cpu"
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert profiles.get_profile().name == "gpu"


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "huge")
    with pytest.raises(ValueError, match=r"'huge'.*\['ci', 'cpu', 'gpu'\]"):
        profiles.get_profile()


def test_gpu_profile_holds_the_papers_settings():
    gpu = profiles.PROFILES["gpu"]
    assert (gpu.image_size, gpu.batch_size, gpu.lr, gpu.backbone) == (256, 24, 1e-3, "vit_b")
    assert (gpu.adapter_blocks, gpu.neighbours, gpu.interval, gpu.fusion_blocks, gpu.fusion_heads) == (6, 8, 1, 6, 8)
    assert gpu.volume_epochs == 550


def test_profiles_grow_from_ci_to_gpu():
    ci, cpu, gpu = (profiles.PROFILES[n] for n in ("ci", "cpu", "gpu"))
    for field in ("phantom_cases", "image_size", "epochs", "neighbours", "volume_epochs"):
        assert getattr(ci, field) <= getattr(cpu, field) <= getattr(gpu, field), field
    assert ci.phantom_spacing_mm >= cpu.phantom_spacing_mm >= gpu.phantom_spacing_mm


def test_announce_prints_the_name(capsys):
    profiles.announce(profiles.PROFILES["ci"])
    assert "sambook profile: ci" in capsys.readouterr().out
