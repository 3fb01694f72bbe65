"""Reliability (README "Reliability"): every bad input is refused up front with one error naming the file and the
problem, no run is overwritten or half-written, no code runs from a file, and a training run killed at random
moments and resumed ends with the numbers of an uninterrupted one.

``pytest tests/test_reliability.py -q`` prints the tallies of README's table (bad inputs tried and refused, kills
survived) at the end of the session."""

from __future__ import annotations

import ast
import dataclasses
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import nibabel
import numpy as np
import pytest
import SimpleITK as sitk
import torch
import yaml

from sambook import config as config_module
from sambook.config import PretrainConfig, TrainConfig, load_config, load_pretrain_config
from sambook.errors import CheckpointError, ConfigError, DataError, RegistrationError, RunError, SambookError
from sambook.profiles import PROFILES

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "configs" / "gpu").glob("*.yaml"))
TALLY = {"bad inputs refused": 0, "kills survived": 0}


@pytest.fixture(scope="module", autouse=True)
def report_tallies():
    yield
    print(f"\nreliability: {TALLY['bad inputs refused']} bad inputs refused, {TALLY['kills survived']} kills survived")


def refused(error_type, match, call, *args, **kwargs):
    """``call`` raises ``error_type`` (a project error) with a message matching ``match``; counted for README."""
    with pytest.raises(error_type, match=match) as caught:
        call(*args, **kwargs)
    assert isinstance(caught.value, SambookError) or error_type is SystemExit
    TALLY["bad inputs refused"] += 1
    return caught.value


# ---------------------------------------------------------------------------------------------------- 1. configs

#: (YAML text, the message the error must carry): each one key or rule broken, as a new user would break it.
BAD_CONFIGS = [
    ("model: sam\nbatch_size: 0\n", r"batch_size: 0 is not allowed; expected an integer >= 1"),
    ("model: sam\nbatch_size: -4\n", r"batch_size: -4 is not allowed; expected an integer >= 1"),
    ("model: sam\nbatch_size: 2.5\n", r"batch_size: 2.5 is not allowed; expected an integer >= 1"),
    ("model: sam\nbatch_size: true\n", r"batch_size: True is not allowed"),
    ("model: sam\nepochs: 0\n", r"epochs: 0 is not allowed; expected an integer >= 1"),
    ("model: sam\nlr: 0\n", r"lr: 0 is not allowed; expected a finite number > 0"),
    ("model: sam\nlr: -1.0e-3\n", r"lr: -0\.001 is not allowed"),
    ("model: sam\nlr: 1e-4\n", r"lr: '1e-4' is not allowed.*write 1\.0e-4"),
    ("model: sam\nlr: .nan\n", r"lr: nan is not allowed"),
    ("model: sam\nweight_decay: -0.1\n", r"weight_decay: -0\.1 is not allowed; expected a finite number >= 0"),
    ("model: sam\nbetas: 0.9\n", r"betas: 0\.9 is not allowed; expected a pair \[beta1, beta2\]"),
    ("model: sam\nbetas: [0.9, 0.99, 0.999]\n", r"betas: \[0\.9, 0\.99, 0\.999\] is not allowed"),
    ("model: sam\nbetas: [0.9, 1.5]\n", r"betas: \[0\.9, 1\.5\] is not allowed"),
    ("model: sam\noptimizer: sgd\n", r"optimizer: 'sgd' is not allowed; expected one of adamw, adam"),
    ("model: sam\nschedule: {final_epochs: 5}\n", r"schedule: .* is not allowed; expected null \(cosine\)"),
    ("model: sam\nschedule: {final_epochs: 5, final_lr: 1.0e-5, warmup: 2}\n", r"schedule: .* is not allowed"),
    ("model: sam\nepochs: 3\nschedule: {final_epochs: 5, final_lr: 1.0e-5}\n", r"final_epochs 5 is more than epochs"),
    ("model: sam\ndtype: fp8\n", r"dtype: 'fp8' is not allowed; expected one of auto, fp32"),
    ("model: sam\nsplit: random\n", r"split: 'random' is not allowed; expected one of patient, slice"),
    ("model: sam\nbackbone: vit_x\n", r"backbone: 'vit_x' is not allowed; expected one of vit_b, vit_l, vit_h, mini"),
    ("model: sam\nattention: flash\n", r"attention: 'flash' is not allowed; expected one of stock, lean"),
    ("model: sam\nmodality: pd\n", r"modality: 'pd' is not allowed; expected one of t1, t1ce, t2, flair"),
    ("model: sam\nnum_classes: 2\n", r"num_classes: 2 is not allowed for model sam; expected 1 \(whole tumour\) or 4"),
    ("model: sam\nnum_classes: 0\n", r"num_classes: 0 is not allowed; expected an integer >= 1"),
    ("model: sam\nimage_size: 0\n", r"image_size: 0 is not allowed; expected an integer >= 16"),
    ("model: sam\nseed: -1\n", r"seed: -1 is not allowed; expected an integer >= 0"),
    ("model: sam\nnum_workers: -2\n", r"num_workers: -2 is not allowed"),
    ("model: sam\nlambda_dice: -1\n", r"lambda_dice: -1 is not allowed"),
    ("model: cmaa\nadapter_blocks: 0\n", r"adapter_blocks: 0 is not allowed; expected an integer >= 1"),
    ("model: cmaa\nseparate_encoders: 'yes'\n", r"separate_encoders: 'yes' is not allowed; expected true or false"),
    ("model: sam\ncheckpoint: ''\n", r"checkpoint: '' is not allowed"),
    ("model: aftersam\nneighbours: -2\nnum_classes: 4\n", r"neighbours: -2 is not allowed; expected an integer >= 0"),
    ("model: aftersam\ninterval: 0\nnum_classes: 4\n", r"interval: 0 is not allowed; expected an integer >= 1"),
    ("model: aftersam\ndataset: lidc\nnum_classes: 4\n", r"dataset: 'lidc' is not allowed; expected one of phantom"),
    ("model: aftersam\ndataset: segthor\nnum_classes: 5\n", r"dataset segthor needs data_dir"),
    ("model: aftersam\nnum_classes: 4\ncache: true\n", r"the feature cache is exact only without input augmentation"),
    ("model: aftersam\nnum_classes: 4\nfusion_blocks: -1\n", r"fusion_blocks: -1 is not allowed"),
    ("model: aftersam\nnum_classes: 4\nlora_rank: 0\n", r"lora_rank: 0 is not allowed"),
    ("model: aftersam\nnum_classes: 4\ngroups_per_volume: 0\n", r"groups_per_volume: 0 is not allowed"),
    ("model: sam\nlearning_rate: 3\n", r"unknown keys \['learning_rate'\]"),
    ("batch_size: 4\n", r"no 'model' key"),
    ("- model: sam\n", r"expected a mapping of keys to values, got list"),
    ("model: sam\nlr: [\n", r"not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS, ids=[m[:40] for _, m in BAD_CONFIGS])
def test_a_bad_config_is_one_error_naming_file_key_value_and_what_is_allowed(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    refused(ConfigError, rf"bad\.yaml: .*{message}|bad\.yaml: {message}", load_config, path)


def test_an_unknown_model_is_refused_by_the_builder(tmp_path):
    from sambook.build import resolve_config

    path = tmp_path / "bad.yaml"
    path.write_text("model: late\n")
    refused(ConfigError, r"bad\.yaml: model: unknown model 'late'", resolve_config, path)


BAD_RECIPES = [
    ("epochs: 0\n", r"epochs: 0 is not allowed"),
    ("cases: 0\n", r"cases: 0 is not allowed"),
    ("spacing_mm: 0\n", r"spacing_mm: 0 is not allowed; expected a finite number > 0"),
    ("anomaly_probability: 1.5\n", r"anomaly_probability: 1\.5 is not allowed; expected a finite number >= 0 and <= 1"),
    ("lr: 0\n", r"lr: 0 is not allowed"),
    ("model: sam\n", r"model: 'sam' is not allowed; expected one of pretrain"),
]


@pytest.mark.parametrize(("text", "message"), BAD_RECIPES, ids=[m[:30] for _, m in BAD_RECIPES])
def test_a_bad_pretraining_recipe_is_refused(tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    refused(ConfigError, rf"recipe\.yaml: {message}", load_pretrain_config, path)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_config_validates_under_every_profile(path):
    if path.name.startswith("pretrain"):
        load_pretrain_config(path)
        return
    cfg = load_config(path)
    for profile in PROFILES.values():
        cfg.resolved(profile)  # resolved() checks the filled-in values too


def test_every_key_has_a_rule_and_the_allowed_values_are_the_libraries():
    from sambook.data.modalities import MODALITIES
    from sambook.models.lean_attention import ATTENTIONS
    from sambook.models.sam_core import SAM_CONFIGS

    assert set(config_module.TRAIN_RULES) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(config_module.PRETRAIN_RULES) == {f.name for f in dataclasses.fields(PretrainConfig)}
    assert set(config_module.BACKBONES) == set(SAM_CONFIGS)
    assert config_module.ATTENTIONS == ATTENTIONS and config_module.MODALITY_NAMES == MODALITIES
    assert config_module.TRAIN_RULES["lr"][0](1e-4) and not config_module.TRAIN_RULES["lr"][0](float("inf"))


def test_a_config_made_in_code_is_checked_too():
    refused(ConfigError, r"config: batch_size: 0 is not allowed", TrainConfig(model="sam", batch_size=0).resolved)


# -------------------------------------------------------------------------------------- 2. and 6. run folders


def _fake_run(folder: Path, cfg: TrainConfig) -> None:
    from sambook.train.runs import CONFIG, ORIGIN, origin

    folder.mkdir(parents=True)
    (folder / CONFIG).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    (folder / ORIGIN).write_text(json.dumps({**origin(), "resumed": []}))
    (folder / "state.pt").write_bytes(b"a finished run")


def test_a_run_is_never_replaced_or_resumed_with_another_config(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMBOOK_DATA", str(tmp_path / "data"))
    from sambook.train.runs import check_run_folder

    cfg = TrainConfig(model="sam", epochs=4).resolved(PROFILES["ci"])
    run = tmp_path / "run"
    _fake_run(run, cfg)
    refused(RunError, r"run: holds a run; pass --resume .* or --overwrite", check_run_folder, cfg, run,
            resume=False, overwrite=False)  # fmt: skip
    other = dataclasses.replace(cfg, lr=0.5, split="slice")
    refused(RunError, r"config\.yaml: --resume with a different config \(lr: 0\.001 in the run, 0\.5 now; split",
            check_run_folder, other, run, resume=True, overwrite=False)  # fmt: skip
    assert check_run_folder(dataclasses.replace(cfg, epochs=12), run, resume=True, overwrite=False) == {
        "epochs": [4, 12]
    }
    monkeypatch.setenv("SAMBOOK_DATA", str(tmp_path / "elsewhere"))
    refused(RunError, r"run\.json: trained under profile .* on data root .*data", check_run_folder, cfg, run,
            resume=True, overwrite=False)  # fmt: skip
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    refused(RunError, r"stuff: holds files but no run", check_run_folder, cfg, tmp_path / "stuff", resume=False,
            overwrite=False)  # fmt: skip
    assert (run / "state.pt").read_bytes() == b"a finished run"


def test_train_refuses_a_finished_run_resumes_it_and_evaluate_refuses_another_data_root(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    from sambook.__main__ import main

    run = tmp_path / "run"
    assert main(["train", "configs/early.yaml", "--out", str(run)]) == 0
    state = (run / "state.pt").read_bytes()
    assert main(["train", "configs/early.yaml", "--out", str(run)]) == 2  # refused, not retrained
    assert "holds a run; pass --resume" in capsys.readouterr().err and (run / "state.pt").read_bytes() == state
    TALLY["bad inputs refused"] += 1
    more = tmp_path / "more.yaml"
    more.write_text("model: early\nepochs: 2\n")
    assert main(["train", str(more), "--out", str(run), "--resume"]) == 0  # more epochs: a declared resumable key
    record = json.loads((run / "run.json").read_text())
    assert record["profile"] == "ci" and record["resumed"] == [{"changed": {"epochs": [1, 2]}}]
    assert len(json.loads((run / "metrics.json").read_text())) == 2
    assert main(["evaluate", str(run)]) == 0
    monkeypatch.setenv("SAMBOOK_PROFILE", "cpu")
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 2
    assert "trained under profile ci" in capsys.readouterr().err
    TALLY["bad inputs refused"] += 1


def test_a_failed_start_leaves_no_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    from sambook.train import runs

    base = TrainConfig(model="sam").resolved(PROFILES["ci"])
    missing = dataclasses.replace(base, checkpoint=str(tmp_path / "nowhere.pth"))
    refused(CheckpointError, r"nowhere\.pth: checkpoint file is missing", runs.train, missing, tmp_path / "a")
    segthor = TrainConfig(model="aftersam", dataset="segthor", data_dir=str(tmp_path / "empty"), num_classes=5)
    four = dataclasses.replace(segthor, num_classes=4).resolved(PROFILES["ci"])
    refused(ConfigError, r"num_classes: 4 is not allowed for model aftersam on dataset segthor; expected 5", runs.train,
            four, tmp_path / "d")  # fmt: skip
    binary = TrainConfig(model="aftersam", num_classes=1).resolved(PROFILES["ci"])  # the phantom has 4 labels
    refused(ConfigError, r"num_classes: 1 is not allowed for model aftersam on dataset phantom; expected 4", runs.train,
            binary, tmp_path / "e")  # fmt: skip
    (tmp_path / "empty").mkdir()
    refused(DataError, r"empty: no Patient_XX folders", runs.train, segthor.resolved(PROFILES["ci"]), tmp_path / "b")

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory in the first step")

    monkeypatch.setattr(runs, "fit", broken)
    with pytest.raises(RuntimeError):
        runs.train(base, tmp_path / "c", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no folder a, b or c


def test_pretrain_never_writes_into_the_repository_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMBOOK_DATA", str(tmp_path))
    from sambook.commands.pretrain import output_folder
    from sambook.models.checkpoint import COMMITTED, MINI_CHECKPOINT

    assert output_folder(Path("configs/pretrain_ci.yaml"), None, overwrite=False) == tmp_path / "pretrain/pretrain_ci"
    refused(RunError, r"is the repository's data/checkpoints/", output_folder, Path("x.yaml"), COMMITTED,
            overwrite=True)  # fmt: skip
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / MINI_CHECKPOINT).write_bytes(b"my weights")
    refused(RunError, r"exists; pass --overwrite", output_folder, Path("x.yaml"), tmp_path / "mine", overwrite=False)


def test_another_mini_checkpoint_is_never_announced_as_the_books(tmp_path, monkeypatch):
    from sambook.models import checkpoint as ckpt

    monkeypatch.setenv("SAMBOOK_DATA", str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    shadow = tmp_path / "checkpoints" / ckpt.MINI_CHECKPOINT
    shadow.write_bytes(b"a 6 s ci pretraining")
    path, text = ckpt.resolve_checkpoint("mini")
    assert path == ckpt.COMMITTED / ckpt.MINI_CHECKPOINT and f"passed over {shadow}" in text
    provenance = json.loads(ckpt.MINI_PROVENANCE.read_text())
    assert ckpt.sha256_of(path) == provenance["sha256"] and path.stat().st_size == provenance["bytes"]
    path, text = ckpt.resolve_checkpoint("mini", str(shadow))
    assert path == shadow and "the book's" not in text


def test_training_stops_on_a_non_finite_loss(tmp_path):
    from test_train import Squares, _model

    from sambook.train.loop import fit

    data = Squares(8)
    data.images[3, 0, 0, 0] = float("nan")
    refused(RunError, r"epoch 1, step \d+: the loss is nan; training stopped", fit, _model(), data, None,
            out=tmp_path, epochs=2, batch_size=4, lr=0.1, progress=False)  # fmt: skip
    assert not (tmp_path / "state.pt").exists()


def test_phantom_refuses_zero_spacing_and_cases(capsys):
    from sambook.__main__ import main

    for argv in (["phantom", "--spacing", "0"], ["phantom", "--cases", "0"], ["phantom", "--spacing", "-2"]):
        refused(SystemExit, "2", main, argv)
        assert "is not above 0" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- 3. no code from files


class _Payload:
    """Pickled, it runs ``Path(marker).write_text(...)`` when unpickled by a loader that allows code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def test_a_crafted_run_state_runs_no_code(tmp_path, monkeypatch):
    from test_train import Squares, _model

    from sambook.train.loop import fit, load_state

    marker = tmp_path / "marker"
    crafted = {"model": {"w": _Payload(marker)}, "epoch": 0}
    torch.save(crafted, tmp_path / "proof.pt")
    torch.load(tmp_path / "proof.pt", weights_only=False)  # the file is dangerous: an unsafe load runs its code
    assert marker.read_text() == "code ran"
    marker.unlink()
    run = tmp_path / "run"
    run.mkdir()
    torch.save(crafted, run / "state.pt")
    refused(CheckpointError, r"state\.pt: refused: the file holds more than tensors", load_state, run / "state.pt")
    refused(CheckpointError, r"state\.pt: refused", fit, _model(), Squares(8), None, out=run, epochs=1, batch_size=4,
            lr=0.1, progress=False, resume=True)  # fmt: skip
    assert not marker.exists()
    loads = [
        (path.name, call)
        for path in (ROOT / "sambook").rglob("*.py")
        for call in ast.walk(ast.parse(path.read_text()))
        if isinstance(call, ast.Call) and ast.unparse(call.func) == "torch.load"
    ]
    assert loads and all(
        any(k.arg == "weights_only" and ast.unparse(k.value) == "True" for k in call.keywords) for _, call in loads
    ), [name for name, _ in loads]


def test_a_run_state_holds_only_safe_types_and_restores_every_random_stream(tmp_path):
    from test_train import Squares, _model

    from sambook.train.loop import fit, load_state

    fit(_model(), Squares(8), None, out=tmp_path, epochs=1, batch_size=4, lr=0.1, progress=False)
    state = load_state(tmp_path / "state.pt")  # weights_only=True
    assert state["epoch"] == 0 and set(state["rng"]) == {"python", "numpy", "torch"}


# --------------------------------------------------------------------------- 4. project errors, not tracebacks


def test_broken_run_folders_are_project_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    from test_train import Squares, _model

    from sambook.train.loop import fit, load_state
    from sambook.train.runs import load_run

    fit(_model(), Squares(8), None, out=tmp_path / "ok", epochs=1, batch_size=4, lr=0.1, progress=False)
    whole = (tmp_path / "ok" / "state.pt").read_bytes()
    (tmp_path / "half.pt").write_bytes(whole[: len(whole) // 2])
    refused(CheckpointError, r"half\.pt: unreadable or truncated run state", load_state, tmp_path / "half.pt")
    (tmp_path / "zero.pt").write_bytes(b"")
    refused(CheckpointError, r"zero\.pt: empty file \(0 bytes\)", load_state, tmp_path / "zero.pt")
    torch.save({"model": {}}, tmp_path / "partial.pt")
    refused(CheckpointError, r"partial\.pt: incomplete run state: no optimizer", load_state, tmp_path / "partial.pt")
    (tmp_path / "no_config").mkdir()
    (tmp_path / "no_config" / "state.pt").write_bytes(whole)
    refused(RunError, r"no_config: no config\.yaml", load_run, tmp_path / "no_config")
    (tmp_path / "no_state").mkdir()
    (tmp_path / "no_state" / "config.yaml").write_text("model: sam\n")
    refused(RunError, r"no_state: no state\.pt", load_run, tmp_path / "no_state")
    refused(RunError, r"nothing: no such run folder", load_run, tmp_path / "nothing")


def test_an_empty_model_state_is_refused_with_the_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    monkeypatch.setenv("SAMBOOK_DATA", str(tmp_path / "data"))
    from sambook.train.loop import STATE_KEYS
    from sambook.train.runs import CONFIG, ORIGIN, load_run, origin

    run = tmp_path / "run"
    run.mkdir()
    (run / CONFIG).write_text(yaml.safe_dump(TrainConfig(model="sam").resolved().to_dict()))
    (run / ORIGIN).write_text(json.dumps(origin()))
    torch.save({k: {} if k == "model" else 0 for k in STATE_KEYS}, run / "state.pt")
    refused(CheckpointError, r"state\.pt: the state does not fit the model: missing keys", load_run, run)


def test_checkpoint_problems_are_project_errors(tmp_path, monkeypatch):
    from sambook.models import checkpoint as ckpt
    from sambook.models.sam_core import build_sam

    refused(CheckpointError, r"unknown backbone 'vit_x'", ckpt.download, "vit_x", cache_dir=tmp_path)
    sam = build_sam("mini", image_size=32)
    state = sam.state_dict()
    half = dict(list(state.items())[: len(state) // 2])
    torch.save(half, tmp_path / "half.pth")
    refused(CheckpointError, r"half\.pth: the checkpoint lacks \d+ of the model's tensors", ckpt.load_into,
            build_sam("mini", image_size=32), tmp_path / "half.pth")  # fmt: skip


def test_data_problems_are_project_errors(tmp_path):
    from sambook.data.labels import to_internal
    from sambook.data.loaders import list_cases

    (tmp_path / "empty").mkdir()
    refused(DataError, r"empty: no cases in the brats2021 layout", list_cases, tmp_path / "empty", "brats2021")
    refused(DataError, r"absent: no such data folder", list_cases, tmp_path / "absent", "brats2021")
    with pytest.raises(ValueError, match=r"unknown label values \[1\.5\]"):
        to_internal(np.array([0.0, 1.5, 2.0]), "brats2021")
    TALLY["bad inputs refused"] += 1


# ------------------------------------------------------------------------------------------ 5. checkpoints


def test_a_cached_checkpoint_is_checked_where_it_is_used_and_hashed_once(tmp_path, monkeypatch):
    from sambook.models import checkpoint as ckpt

    monkeypatch.setenv("SAMBOOK_DATA", str(tmp_path))
    monkeypatch.setenv("SAMBOOK_CHECKPOINTS", str(tmp_path / "ck"))
    (tmp_path / "ck").mkdir()
    cached = tmp_path / "ck" / "sam_vit_b_01ec64.pth"
    cached.write_bytes(b"0123456789")  # a 10-byte "vit_b"
    refused(CheckpointError, r"10 bytes, expected 375042383", ckpt.resolve_checkpoint, "vit_b")
    import hashlib

    url = ckpt.OFFICIAL["vit_b"].url
    monkeypatch.setitem(ckpt.OFFICIAL, "vit_b", ckpt.Official(url, hashlib.sha256(b"0123456789").hexdigest(), 10))
    calls = []
    real = ckpt.sha256_of
    monkeypatch.setattr(ckpt, "sha256_of", lambda path: calls.append(path) or real(path))
    assert ckpt.resolve_checkpoint("vit_b")[0] == cached and ckpt.resolve_checkpoint("vit_b")[0] == cached
    assert len(calls) == 1  # the verified hash is remembered (size and modification time unchanged)
    cached.write_bytes(b"9876543210")  # same size, other bytes, newer file
    os.utime(cached, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    refused(CheckpointError, r"sha256 does not match the published", ckpt.resolve_checkpoint, "vit_b")
    assert len(calls) == 2 and not any(p.suffix == ".sha256" for p in ckpt.COMMITTED.iterdir())


def test_every_official_checkpoint_has_a_size_and_a_hash():
    from sambook.models import checkpoint as ckpt

    assert ckpt.OFFICIAL["vit_l"].size == 1_249_524_607 and ckpt.OFFICIAL["vit_l"].sha256.startswith("3adcc431")
    assert ckpt.OFFICIAL["vit_h"].size == 2_564_550_879 and ckpt.OFFICIAL["vit_h"].sha256.startswith("a7bf3b02")
    assert all(len(o.sha256) == 64 and o.size > 10**8 for o in ckpt.OFFICIAL.values())


# ------------------------------------------------------------------------------- 6. same seed, same numbers


def test_registration_is_bit_identical_on_two_fresh_data_roots(tmp_path):
    from sambook.data.phantom import generate
    from sambook.registration.batch import register_dataset
    from sambook.registration.rigid import sampling_seed

    assert sampling_seed(0) != 0  # SimpleITK reads a sampling seed of 0 as "seed from the clock"
    reports = []
    for name in ("a", "b"):
        root = tmp_path / name
        generate(root / "phantom", cases=2 if name == "a" else 1, seed=0, spacing_mm=4.0)
        if name == "a":  # 7. a 0-byte tissue file fails its case only; the good case is registered
            (next((root / "phantom").glob("*_001")) / "phantom_s0_001_tissue.nii.gz").write_bytes(b"")
        reports.append(register_dataset(root / "phantom", root / "registered"))
        time.sleep(1.1)  # a clock-seeded sampler would now draw other points
    assert "error" in reports[0][1] and "phantom_s0_001_tissue.nii.gz: unreadable" in reports[0][1]["error"]
    TALLY["bad inputs refused"] += 1
    first, second = reports[0][0], reports[1][0]
    for modality in ("t1", "t1ce", "flair"):
        assert first["modalities"][modality]["metric_history"] == second["modalities"][modality]["metric_history"]
        assert first["modalities"][modality]["parameters"] == second["modalities"][modality]["parameters"]


# ------------------------------------------------------------------------------------ 7. files checked


def test_a_short_write_never_makes_a_complete_phantom_case(tmp_path, monkeypatch):
    from sambook.data import phantom

    case = phantom.make_case(3, spacing_mm=8.0, case_id="full_disk")
    real = sitk.WriteImage

    def disk_full(image, path, *args):  # SimpleITK on a full disk: a short file and no error
        real(image, path, *args)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 3])

    monkeypatch.setattr(sitk, "WriteImage", disk_full)
    refused(DataError, r"full_disk_t1\.nii\.gz: unreadable or truncated", phantom.write_case, case, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no case folder, no temporary
    monkeypatch.setattr(sitk, "WriteImage", real)
    phantom.write_case(case, tmp_path)
    (tmp_path / "full_disk" / "full_disk_seg.nii.gz").write_bytes(b"")
    assert not phantom.is_complete(tmp_path / "full_disk")  # regenerated, not counted complete for ever


def test_a_lying_header_is_refused_before_its_voxels_are_allocated(tmp_path):
    from sambook.data.loaders import read_image

    header = nibabel.Nifti1Header()
    header.set_data_shape((600, 600, 600))
    header.set_data_dtype(np.float32)
    path = tmp_path / "liar.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + b"\0" * 4))
    assert path.stat().st_size < 100
    tracemalloc.start()
    refused(DataError, r"liar\.nii\.gz: unreadable or truncated image \(its header claims \(600, 600, 600\)",
            read_image, path)  # fmt: skip
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20  # not the 824 MB the header claims


def test_registration_inputs_must_be_3d(tmp_path):
    from sambook.data import loaders, phantom
    from sambook.registration.rigid import register_rigid

    case = phantom.make_case(4, spacing_mm=8.0, case_id="flat")
    phantom.write_case(case, tmp_path)
    flat = sitk.GetImageFromArray(np.ones((20, 20), np.float32))
    sitk.WriteImage(flat, str(tmp_path / "flat" / "flat_t1.nii.gz"))
    refused(DataError, r"flat_t1\.nii\.gz: expected a 3D image, got 2D", loaders.load_brats, tmp_path / "flat")
    refused(RegistrationError, r"case c, modality t1: expected a 3D image, got 2D", register_rigid,
            case.images["t2"], flat, case="c", modality="t1")  # fmt: skip


def test_a_segthor_label_must_share_the_ct_geometry(tmp_path):
    from test_segthor import _patient

    from sambook.datasets.segthor import load_segthor

    _patient(tmp_path, "Patient_01")
    gt = tmp_path / "train" / "Patient_01" / "GT.nii.gz"
    image = sitk.ReadImage(str(gt))
    image.SetOrigin((50.0, 0.0, 0.0))  # shifted by 50 mm: same size and spacing
    sitk.WriteImage(image, str(gt))
    refused(DataError, r"GT\.nii\.gz: label origin does not match the CT's", load_segthor, tmp_path, image_size=20)
    image.SetOrigin((0.0, 0.0, 0.0))
    image.SetDirection((-1.0, 0, 0, 0, 1, 0, 0, 0, 1))
    sitk.WriteImage(image, str(gt))
    refused(DataError, r"GT\.nii\.gz: label direction does not match", load_segthor, tmp_path, image_size=20)


def test_register_on_an_empty_folder_is_an_error(tmp_path, capsys):
    from sambook.__main__ import main

    (tmp_path / "empty").mkdir()
    assert main(["register", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "empty: no cases" in capsys.readouterr().err and not (tmp_path / "out").exists()
    TALLY["bad inputs refused"] += 1


# ----------------------------------------------------------------------------------- 8. faults survived


class Runs:
    """The forking process of tests/kill_worker.py: ``start`` begins a training run, ``kill`` and ``wait`` end it."""

    def __init__(self):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "kill_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.read_until("ready")

    def read_until(self, prefix: str) -> str:
        for line in self.process.stdout:
            if line.startswith(prefix):
                return line.strip()
            if line.startswith("exit "):
                raise AssertionError(f"the run ended ({line.strip()}) before printing {prefix!r}")
        raise AssertionError(f"the worker ended before printing {prefix!r} (exit {self.process.wait()})")

    def start(self, out: Path, mode: str = "plain") -> int:
        self.process.stdin.write(f"{out} {mode}\n")
        self.process.stdin.flush()
        return int(self.read_until("pid ").split()[1])

    def wait(self) -> int:
        return int(self.read_until("exit ").split()[2])

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _numbers(out: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in json.loads((out / "metrics.json").read_text())]


def test_a_run_killed_at_random_moments_ends_as_an_uninterrupted_one(tmp_path):
    runs = Runs()
    try:
        started = time.perf_counter()
        runs.start(tmp_path / "straight")
        assert runs.wait() == 0
        length = time.perf_counter() - started  # of a whole run
        rng, kills, run = random.Random(21), 0, tmp_path / "killed"

        def kill_at_random(latest: float) -> None:
            nonlocal kills
            pid = runs.start(run)
            time.sleep(rng.uniform(0.0, latest))  # anywhere: in a batch, in evaluation, in a checkpoint write
            os.kill(pid, signal.SIGKILL)  # a no-op on a run that already ended
            kills += runs.wait() == -signal.SIGKILL

        kill_at_random(length / 2)
        # A kill inside the checkpoint write: the previous state.pt stays whole, the next write removes the temporary.
        before = (run / "state.pt").read_bytes() if (run / "state.pt").exists() else None
        pid = runs.start(run, "slow_write")
        runs.read_until("writing")
        os.kill(pid, signal.SIGKILL)
        assert runs.wait() == -signal.SIGKILL
        kills += 1
        assert list(run.glob(".state.pt.*.tmp"))  # what the killed write left behind
        if before is not None:
            assert (run / "state.pt").read_bytes() == before
        for _ in range(6):
            kill_at_random(length / 3)
        runs.start(run)
        assert runs.wait() == 0
    finally:
        runs.close()
    assert not list(run.glob(".*.tmp"))
    assert _numbers(run) == _numbers(tmp_path / "straight")  # bitwise: losses, Dice, HD95 and learning rates
    assert kills >= 4
    TALLY["kills survived"] += kills
