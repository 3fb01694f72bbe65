"""Pretraining the book's own miniature SAM offline (chapter `foundation_model`).

Both papers freeze a *pretrained* SAM encoder. Offline there is no SAM checkpoint, so the book makes a stand-in:
the ``mini`` SAM (the official classes, smaller) trained end to end on a segmentation pretext task whose labels the
phantom gives for free, on single random modalities and random slices:

* **brain tissue classes** (background, CSF, grey matter, white matter) from the phantom's tissue maps, and
* **synthetic anomalies** (:func:`add_anomalies`): random blobs pasted into the brain, brighter or darker than the
  tissue they replace — SAM's "segment any object" turned into "segment any region that is no brain tissue".

Augmentation: contrast, brightness, a monotone intensity warp, noise, flips, rotations. Tumour labels are never
used: pretraining cases are generated **without tumours**, from a seed range disjoint from the downstream datasets'.

``python -m sambook pretrain CONFIG`` writes ``sam_mini_phantom.pth`` (the official key layout, so one loader
serves it and the official files; one mask token per pretext class) and ``sam_mini_phantom.json`` (provenance:
code version, config, seed, device, wall time, per-epoch pretext metrics, the checkpoint's SHA-256).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from sambook.atomic import atomic_path
from sambook.build import build_model
from sambook.config import PretrainConfig
from sambook.foundation.pretext import PRETRAIN_SEED, TissueSlices, pretext_volumes
from sambook.foundation.provenance import code_version
from sambook.models.checkpoint import MINI_CHECKPOINT, sha256_of
from sambook.train.loop import fit, seed_everything
from sambook.train.losses import SegmentationLoss


def pretrain(cfg: PretrainConfig, out: Path, *, progress: bool = True) -> dict:
    """Run the recipe; write the checkpoint and its provenance into ``out``; return the provenance."""
    start, version = time.perf_counter(), code_version()  # the code as it was when the run started
    images, tissues, case_ids = pretext_volumes(cfg)
    seed_everything(cfg.seed)
    model = build_model(cfg)
    dataset = TissueSlices(
        images,
        tissues,
        size=cfg.image_size,
        per_case=cfg.slices_per_case,
        anomaly_probability=cfg.anomaly_probability,
        mix_probability=cfg.mix_probability,
    )
    history = fit(
        model,
        dataset,
        None,
        out=out / "run",
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        min_lr=0.0,  # the recipe the committed mini SAM was pretrained with: cosine to 0, the IoU head trained too
        loss_fn=SegmentationLoss(lambda_iou=1.0),
        progress=progress,
    )
    checkpoint = out / MINI_CHECKPOINT
    with atomic_path(checkpoint) as tmp:
        torch.save(model.sam.state_dict(), tmp)
    provenance = {
        "code_version": version,
        "config": dataclasses.asdict(cfg),
        "seed": cfg.seed,
        "pretraining_cases": case_ids,
        "phantom_seed": PRETRAIN_SEED,
        "with_tumour": False,
        "device": "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)",
        "wall_seconds": time.perf_counter() - start,
        "history": history,
        "sha256": sha256_of(checkpoint),
        "bytes": checkpoint.stat().st_size,
    }
    with atomic_path(checkpoint.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(provenance, indent=1))
    return provenance
