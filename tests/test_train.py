"""The training loop: learning, files, resume equals an uninterrupted run, configs, and the commands."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from sambook.config import TrainConfig, load_config
from sambook.train.loop import fit


class Squares(Dataset):
    """Images whose bright square is the label: learnable by a 1x1 convolution."""

    def __init__(self, n: int = 24, size: int = 16, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 4, size, size, generator=g) * 0.3
        self.labels = torch.zeros(n, size, size, dtype=torch.long)
        for i in range(n):
            y, x = torch.randint(0, size - 6, (2,), generator=g).tolist()
            self.labels[i, y : y + 6, x : x + 6] = 1
            self.images[i, :, y : y + 6, x : x + 6] += 1.0

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": self.labels[i], "spacing": torch.ones(2)}


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.frozen = nn.Conv2d(4, 4, 1)
        with torch.no_grad():  # a frozen "encoder" that keeps the signal: identity plus a little noise
            self.frozen.weight.copy_(torch.eye(4)[:, :, None, None] + 0.05 * torch.randn(4, 4, 1, 1))
            self.frozen.bias.zero_()
        self.frozen.requires_grad_(False)
        self.head = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        return self.head(torch.relu(self.frozen(x)))


def _model(seed=0):
    torch.manual_seed(seed)
    return Tiny()


def test_training_lowers_the_loss_and_writes_metrics(tmp_path):
    history = fit(_model(), Squares(), Squares(8, seed=1), out=tmp_path, epochs=4, batch_size=8, lr=0.1, progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_dice"] > 50
    assert json.loads((tmp_path / "metrics.json").read_text()) == history
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss")
    assert (tmp_path / "state.pt").is_file() and not list(tmp_path.glob(".*tmp"))


def test_frozen_parameters_do_not_move(tmp_path):
    model = _model()
    before = model.frozen.weight.clone()
    fit(model, Squares(), None, out=tmp_path, epochs=1, batch_size=8, lr=0.05, progress=False)
    torch.testing.assert_close(model.frozen.weight, before)


def test_resume_equals_an_uninterrupted_run(tmp_path):
    straight = _model()
    fit(
        straight,
        Squares(),
        Squares(8, seed=1),
        out=tmp_path / "a",
        epochs=3,
        batch_size=5,
        lr=0.05,
        seed=3,
        progress=False,
    )
    interrupted = _model()
    fit(
        interrupted,
        Squares(),
        Squares(8, seed=1),
        out=tmp_path / "b",
        epochs=3,
        batch_size=5,
        lr=0.05,
        seed=3,
        progress=False,
        stop_after=lambda epoch: epoch == 1,
    )  # "killed" after epoch 2 of 3
    resumed = _model(seed=99)  # a fresh process: different initial weights, restored from state.pt
    history = fit(
        resumed,
        Squares(),
        Squares(8, seed=1),
        out=tmp_path / "b",
        epochs=3,
        batch_size=5,
        lr=0.05,
        seed=3,
        progress=False,
        resume=True,
    )
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    reference = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in reference]


def test_same_seed_same_run(tmp_path):
    runs = [
        fit(_model(), Squares(), None, out=tmp_path / str(i), epochs=2, batch_size=8, lr=0.05, seed=5, progress=False)
        for i in range(2)
    ]
    assert [r["train_loss"] for r in runs[0]] == [r["train_loss"] for r in runs[1]]


def test_config_files_load_and_resolve(tmp_path):
    from pathlib import Path

    from sambook.profiles import PROFILES

    configs = sorted(c for c in Path("configs").glob("*.yaml") if not c.stem.startswith("pretrain"))
    assert {c.stem for c in configs} >= {"sam_t1", "sam_t1ce", "sam_t2", "sam_flair", "early", "cmaa"}
    for path in configs:
        cfg = load_config(path).resolved(PROFILES["ci"])
        assert cfg.backbone == "mini" and cfg.image_size == PROFILES["ci"].image_size
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: cmaa\nlearning_rate: 3\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown keys \['learning_rate'\]"):
        load_config(bad)
    assert TrainConfig(model="sam", lr=0.5).resolved(PROFILES["gpu"]).lr == 0.5  # set values win


def test_train_and_evaluate_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    from sambook.__main__ import main

    assert main(["train", "configs/early.yaml", "--out", str(tmp_path / "run")]) == 0
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    scores = json.loads((tmp_path / "run" / "test_scores.json").read_text())
    assert "val_dice" in history[-1] and scores["report_epoch"] == "last" and scores["epoch"] == history[-1]["epoch"]
    assert f"Dice {scores['dice']:.1f} %" in printed  # evaluate rebuilds exactly the trained model


def test_optimizers_and_the_step_schedule():
    from sambook.train.loop import make_optimizer, make_scheduler

    params = [nn.Parameter(torch.zeros(2))]
    assert isinstance(
        make_optimizer(params, name="adam", lr=1e-4, weight_decay=1e-4, betas=(0.9, 0.99)), torch.optim.Adam
    )
    optimizer = make_optimizer(params, name="adamw", lr=1e-4, weight_decay=0.0, betas=(0.9, 0.999))
    assert isinstance(optimizer, torch.optim.AdamW)
    scheduler = make_scheduler(optimizer, epochs=10, lr=1e-4, schedule={"final_epochs": 3, "final_lr": 1e-5})
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:7] == pytest.approx([1e-4] * 7) and rates[7:] == pytest.approx([1e-5] * 3)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        make_optimizer(params, name="sgd", lr=1.0, weight_decay=0.0, betas=(0.9, 0.999))
    with pytest.raises(ValueError, match="unknown schedule keys"):
        make_scheduler(optimizer, epochs=3, lr=1.0, schedule={"milestones": [1]})


def test_aftersam_config_takes_the_profile_and_refuses_contradictions(tmp_path):
    from sambook.profiles import PROFILES

    cfg = load_config("configs/aftersam.yaml").resolved(PROFILES["cpu"])
    cpu = PROFILES["cpu"]
    assert (cfg.neighbours, cfg.fusion_blocks, cfg.lora_rank, cfg.epochs) == (
        cpu.neighbours,
        cpu.fusion_blocks,
        cpu.lora_rank,
        cpu.volume_epochs,
    )
    paper = load_config("configs/gpu/aftersam.yaml").resolved(PROFILES["ci"])
    assert (paper.optimizer, paper.lr, paper.schedule) == ("adam", 1e-4, {"final_epochs": 50, "final_lr": 1e-5})
    both = tmp_path / "both.yaml"
    both.write_text("model: aftersam\ncache: true\n")  # elastic defaults to true
    with pytest.raises(ValueError, match=r"both\.yaml: the feature cache is exact only without input augmentation"):
        load_config(both)
    no_dir = tmp_path / "nodir.yaml"
    no_dir.write_text("model: aftersam\ndataset: segthor\n")
    with pytest.raises(ValueError, match=r"nodir\.yaml: dataset segthor needs data_dir"):
        load_config(no_dir)


def test_train_and_evaluate_aftersam_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    from sambook.__main__ import main

    assert main(["train", "configs/aftersam.yaml", "--out", str(tmp_path / "run")]) == 0
    scores = json.loads((tmp_path / "run" / "volume_scores.json").read_text())
    assert set(scores["mean_per_class"]) == {"1", "2", "3"} and len(scores["per_case"]) >= 1
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run")]) == 0  # rebuilds the trained model: the same scores
    assert f"mean {scores['mean']:.1f} %" in capsys.readouterr().out


def test_bench_cache_losses_agree(monkeypatch):
    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    from sambook.bench.cache import cache_speedup
    from sambook.profiles import PROFILES

    result = cache_speedup(load_config("configs/aftersam.yaml").resolved(PROFILES["ci"]), epochs=2)
    assert result["max_loss_difference"] < 1e-4
    assert len(result["cached"]["seconds"]) == 2 and result["cached"]["slices_encoded"] > 0


def test_the_cosine_schedule_has_a_floor_and_the_last_epoch_trains(tmp_path):
    from sambook.train.loop import make_scheduler

    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1)
    scheduler = make_scheduler(optimizer, epochs=5, lr=0.1, schedule=None)
    rates = []
    for _ in range(5):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    floor = 0.1 / 100  # the default: lr / 100
    cosine = [floor + (0.1 - floor) * (1 + math.cos(math.pi * e / 5)) / 2 for e in range(5)]
    assert rates == pytest.approx(cosine) and rates[-1] > floor and all(a > b for a, b in zip(rates, rates[1:]))
    history = fit(_model(), Squares(), None, out=tmp_path, epochs=3, batch_size=8, lr=0.1, min_lr=0.01, progress=False)
    assert [row["lr"] for row in history] == pytest.approx([0.1, 0.0775, 0.0325])  # the rate each epoch trained with


def test_validation_split_is_seeded_and_keeps_patients_apart():
    from sambook.datasets.validation import hold_out

    cases = [f"p{i}" for i in range(10)]
    train, val = hold_out(cases, share=0.2, seed=3)
    assert len(val) == 2 and sorted(train + val) == sorted(cases) and not set(train) & set(val)
    assert hold_out(cases, share=0.2, seed=3) == (train, val) and hold_out(cases, share=0.2, seed=4) != (train, val)
    assert hold_out(cases[:2], share=0.2, seed=0)[0]  # at least one patient left to train on
    assert hold_out(cases, share=0.0, seed=0) == (cases, [])
    with pytest.raises(ValueError, match="validation share 1"):
        hold_out(cases, share=1, seed=0)


def test_report_the_validation_selected_epoch(tmp_path):
    """With report_epoch 'validation' the model ends with the weights of its best validation epoch (kept in best.pt);
    the test set is never looked at during training."""
    from sambook.train.loop import reported_epoch

    class Recording(Dataset):
        def __init__(self):
            self.data, self.reads = Squares(8, seed=1), 0

        def __len__(self):
            return len(self.data)

        def __getitem__(self, i):
            self.reads += 1
            return self.data[i]

    model, val = _model(), Recording()
    history = fit(model, Squares(), val, out=tmp_path, epochs=4, batch_size=8, lr=0.5, report_epoch="validation")
    best = torch.load(tmp_path / "best.pt", weights_only=False)
    assert best["epoch"] == reported_epoch(history, "validation")
    assert history[best["epoch"] - 1]["val_dice"] == max(row["val_dice"] for row in history)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, best["model"][name])
    assert val.reads == 4 * len(val)  # scored after every epoch
    with pytest.raises(ValueError, match="needs a validation set"):
        fit(_model(), Squares(), None, out=tmp_path / "b", epochs=1, batch_size=8, lr=0.1, report_epoch="validation")
    with pytest.raises(ValueError, match="report_epoch 'best'"):
        fit(_model(), Squares(), val, out=tmp_path / "c", epochs=1, batch_size=8, lr=0.1, report_epoch="best")


@pytest.mark.parametrize("report_epoch, validated", [("validation", [1, 2, 3]), ("last", [3])])
def test_whole_volume_validation_runs_when_it_selects_or_once_at_the_end(tmp_path, report_epoch, validated):
    """validate() (AFTer-SAM's whole validation volumes) runs after every epoch when it selects the reported epoch,
    and after the last epoch only when nothing is selected by it."""
    calls = []

    def validate():
        calls.append(len(calls))
        return {"dice": float(len(calls))}

    history = fit(
        _model(),
        Squares(),
        None,
        out=tmp_path,
        epochs=3,
        batch_size=8,
        lr=0.5,
        validate=validate,
        report_epoch=report_epoch,
    )
    assert [row["epoch"] for row in history if "val_dice" in row] == validated and len(calls) == len(validated)
