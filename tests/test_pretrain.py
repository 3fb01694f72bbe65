"""Pretraining: the loop lowers the pretext loss, the checkpoint loads like an official one, its provenance
matches it, and no pretraining case can appear downstream."""

from __future__ import annotations

import json

import pytest

from sambook.config import load_pretrain_config as load_config
from sambook.data.labels import PRETEXT_CLASSES
from sambook.data.phantom import case_seed
from sambook.foundation.pretext import PRETRAIN_SEED
from sambook.foundation.pretrain import pretrain
from sambook.models.checkpoint import MINI_CHECKPOINT, load_into, sha256_of
from sambook.models.sam_core import build_sam
from sambook.profiles import PROFILES


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain")
    import os

    old = os.environ.get("SAMBOOK_DATA")
    os.environ["SAMBOOK_DATA"] = str(out / "data")
    try:
        provenance = pretrain(load_config("configs/pretrain_ci.yaml"), out, progress=False)
    finally:
        if old is None:
            os.environ.pop("SAMBOOK_DATA")
        else:
            os.environ["SAMBOOK_DATA"] = old
    return out, provenance


def test_pretext_loss_goes_down(pretrained):
    _, provenance = pretrained
    losses = [row["train_loss"] for row in provenance["history"]]
    assert min(losses[1:]) < losses[0]


def test_checkpoint_loads_through_the_official_path(pretrained):
    out, _ = pretrained
    tokens = len(PRETEXT_CLASSES)  # one mask token per pretext class
    report = load_into(
        build_sam("mini", image_size=64, num_mask_tokens=tokens), out / MINI_CHECKPOINT, strict_keys=True
    )
    assert not report.missing and not report.unexpected
    assert "image_encoder.pos_embed" in report.resized  # trained at 32 px, loaded at 64 px
    # A model with SAM's usual 4 tokens keeps the first four and reports the fifth token's hypernetwork.
    report = load_into(build_sam("mini", image_size=64), out / MINI_CHECKPOINT)
    assert not report.missing and {k.split(".")[2] for k in report.unexpected} == {str(tokens - 1)}


def test_provenance_matches_the_checkpoint(pretrained):
    out, provenance = pretrained
    assert provenance["sha256"] == sha256_of(out / MINI_CHECKPOINT)
    assert json.loads((out / "sam_mini_phantom.json").read_text())["sha256"] == provenance["sha256"]
    assert provenance["with_tumour"] is False and provenance["config"]["epochs"] == len(provenance["history"])


def test_pretraining_cases_are_disjoint_from_downstream_cases(pretrained):
    _, provenance = pretrained
    downstream_ids = {f"phantom_s{p.seed}_{i:03d}" for p in PROFILES.values() for i in range(p.phantom_cases)}
    assert not set(provenance["pretraining_cases"]) & downstream_ids
    pretrain_seeds = {case_seed(PRETRAIN_SEED, i) for i in range(64)}
    downstream_seeds = {case_seed(p.seed, i) for p in PROFILES.values() for i in range(p.phantom_cases)}
    assert not pretrain_seeds & downstream_seeds


def test_synthetic_anomalies_stay_in_the_brain_and_change_only_what_they_label():
    import torch

    from sambook.foundation.pretext import add_anomalies, pretext_labels

    tissue = torch.zeros(64, 64, dtype=torch.long)
    tissue[12:52, 10:54] = 3  # white matter
    tissue[20:44, 20:44] = 2  # grey matter
    image = torch.randn(1, 64, 64)
    before = image.clone()
    for seed in range(5):
        new, anomaly = add_anomalies(image, tissue > 0, torch.Generator().manual_seed(seed), probability=1.0)
        assert torch.equal(image, before)  # the input is untouched
        assert anomaly.any() and not (anomaly & (tissue == 0)).any()  # only inside the brain
        assert torch.equal(new[0][tissue == 0], image[0][tissue == 0])  # outside the brain nothing moves
        labels = pretext_labels(tissue, anomaly)
        assert (labels[anomaly] == 0).all() and torch.equal(labels[~anomaly], tissue[~anomaly] + 1)
    none, mask = add_anomalies(image, tissue > 0, torch.Generator().manual_seed(0), probability=0.0)
    assert torch.equal(none, image) and not mask.any()


def test_modality_weights_are_one_modality_or_a_convex_mix():
    import torch

    from sambook.foundation.pretext import modality_weights

    g = torch.Generator().manual_seed(0)
    single = [modality_weights(g, 0.0) for _ in range(20)]
    assert all(sorted(w.tolist()) == [0.0, 0.0, 0.0, 1.0] for w in single)
    mixed = [modality_weights(g, 1.0) for _ in range(50)]
    assert all((w >= 0).all() and abs(float(w.sum()) - 1) < 1e-6 for w in mixed)
    assert sum(int((w > 0).sum()) > 1 for w in mixed) > 25  # most mixes use several modalities
