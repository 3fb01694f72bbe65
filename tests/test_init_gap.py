"""Pretrained vs random encoder (sambook.foundation.init_gap): what each init freezes and loads, the gap arithmetic, the
command, and determinism under a seed."""

from __future__ import annotations

import pytest
import torch

from sambook.foundation.init_gap import InitRun, build_for_init, gaps, train_init
from sambook.models.checkpoint import load_state_dict, resolve_checkpoint
from sambook.profiles import PROFILES

CI = PROFILES["ci"]


@pytest.fixture(scope="module")
def checkpoint():
    path, _ = resolve_checkpoint("mini")
    assert path is not None, "the committed mini checkpoint is missing"
    return path


def _trainable(module: torch.nn.Module) -> set[bool]:
    return {p.requires_grad for p in module.parameters()}


def test_each_init_freezes_and_loads_what_it_says(checkpoint):
    state = load_state_dict(checkpoint)
    weight = "image_encoder.blocks.3.mlp.lin1.weight"  # same shape at every input size
    for init in ("pretrained", "random", "scratch"):
        torch.manual_seed(0)
        model = build_for_init("cmaa", init, profile=CI, checkpoint=checkpoint)
        assert _trainable(model.encoder) == ({True} if init == "scratch" else {False})
        assert _trainable(model.decoder.mask_decoder) == {True} and _trainable(model.adapters) == {True}
        loaded = torch.equal(model.encoder.blocks[3].mlp.lin1.weight, state[weight])
        assert loaded == (init == "pretrained")


def test_bad_inits_are_refused():
    with pytest.raises(ValueError, match="unknown init 'frozen'"):
        build_for_init("sam", "frozen", profile=CI, checkpoint=None)
    with pytest.raises(FileNotFoundError, match="no mini checkpoint"):
        build_for_init("sam", "pretrained", profile=CI, checkpoint=None)


def test_gaps_are_final_differences_per_seed():
    def run(model, init, seed, dice, hd95):
        return InitRun(model, init, seed, [0.0, dice], [99.0, hd95], 1.0)

    runs = [
        run("sam", "pretrained", 0, 80.0, 30.0),
        run("sam", "random", 0, 60.0, 70.0),
        run("sam", "pretrained", 1, 75.0, 35.0),
        run("sam", "random", 1, 70.0, 45.0),
        run("cmaa", "random", 0, 72.0, 50.0),
        run("sam", "scratch", 0, 70.0, 52.0),
    ]
    assert gaps(runs) == {
        "sam pretrained - random": {0: (20.0, -40.0), 1: (5.0, -10.0)},
        "cmaa random - sam scratch": {0: (2.0, -2.0)},
    }  # incomplete pairs are left out


def test_same_seed_same_run(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    from sambook.datasets.slices import load_slice_splits

    data = load_slice_splits(CI)
    first, second = (
        train_init("sam", "scratch", data, profile=CI, checkpoint=checkpoint, seed=3, out=tmp_path / k)
        for k in ("a", "b")
    )
    assert (first.dice, first.hd95) == (second.dice, second.hd95)


def test_init_gap_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    from sambook.__main__ import main
    from sambook.results import read_results

    out = tmp_path / "init-gap-ci.json"
    assert main(["init-gap", "--seeds", "0", "--out", str(out), "--runs", str(tmp_path / "runs")]) == 0
    record = read_results(out)  # provenance: command, code version, machine, date, profile, seeds
    assert (record["profile"], record["seeds"]) == ("ci", [0])
    runs = [InitRun(**r) for r in record["runs"]]
    assert [(r.model, r.init) for r in runs] == [
        (m, i) for m in ("sam", "early", "cmaa") for i in ("pretrained", "random")
    ] + [("sam", "scratch")]
    printed = capsys.readouterr().out
    dice, hd95 = gaps(runs)["cmaa pretrained - random"][0]
    assert f"cmaa pretrained - random   Dice / HD95 per seed: {dice:+.1f} / {hd95:+.1f} mm" in printed
    assert (tmp_path / "runs" / "seed0-cmaa-random" / "metrics.csv").is_file()
    before = out.read_bytes()
    assert main(["init-gap", "--seeds", "1", "--out", str(out), "--runs", str(tmp_path / "runs")]) == 1
    assert out.read_bytes() == before  # never overwritten without being asked
    assert "exists" in capsys.readouterr().out
