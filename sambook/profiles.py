"""Run profiles: the one place that decides how big every chapter runs.

Three profiles share one set of fields:

* ``ci``  — seconds per notebook; proves that the code runs, results mean nothing.
* ``cpu`` — minutes per notebook on two CPU cores; results worth reading, on the offline phantom.
* ``gpu`` — the papers' settings (ViT-B, 256x256 slices, batch 24, N_A = 8, ...), meant for a Colab GPU.

The environment variable ``SAMBOOK_PROFILE`` selects one; without it, ``gpu`` is chosen when CUDA is
available and ``cpu`` otherwise. Notebooks call :func:`get_profile` and never need editing to run small.
"""

from __future__ import annotations

import dataclasses
import os

ENV_VAR = "SAMBOOK_PROFILE"


@dataclasses.dataclass(frozen=True)
class Profile:
    """Every size a chapter may need. Fields are grouped by the chapter that reads them."""

    name: str
    # Chapter `multimodal_mri` — the offline phantom (sambook.data.phantom).
    phantom_cases: int  # cases generated for the book's dataset
    phantom_spacing_mm: float  # isotropic spacing of the T2 reference grid
    # Chapter `registration` — the 2D slice dataset (sambook.datasets.slices).
    image_size: int  # side of the square 2D slices fed to the models (paper: 256)
    slices_per_case: int  # tumour slices kept per case ("several slices")
    # Chapters `sam_taken_apart` to `fusing_modalities` — SAM core, CMAA and training (sambook.models, .train).
    backbone: str  # "mini", "vit_b", "vit_l" or "vit_h"
    batch_size: int  # paper: 24
    epochs: int
    lr: float  # paper: 1e-3 (AdamW)
    adapter_blocks: int  # n, the number of encoder blocks followed by a CMAA adapter (paper: 6)
    # the chapters from `axial_attention` to `aftersam_volumes` — AFTer-SAM (sambook.models.aftersam).
    neighbours: int  # N_A: a slice group holds N_A + 1 slices (paper: 8)
    interval: int  # N_f: spacing between neighbouring slices of a group (paper: 1)
    fusion_blocks: int  # L, the number of axial fusion blocks (paper: 6)
    fusion_heads: int  # M (paper: 8)
    lora_rank: int
    volume_epochs: int  # paper: 550
    # Chapter `how_it_compares` — non-SAM baselines (sambook.models.baselines) and the prompt ablation.
    baseline_width: int  # w: MONAI networks' base width (UNet channels w..16w, SwinUNETR feature_size w: 12k)
    baseline_image_size: int  # in-plane side of every model of the comparison (SwinUNETR needs >= 64)
    patch_3d: tuple[int, int, int]  # (D, H, W) training patch and sliding window of the 3D baselines
    compare_seeds: int  # seeds per model in the comparison tables (mean ± sd)
    compare_items_per_volume: int  # slice groups / 3D patches per volume and epoch in the comparison (paper: 1)
    compare_volume_epochs: int  # epochs of every volume model in the comparison (baselines, prompt ablation)
    # Chapter `training_runs` — fake-tensor estimates (sambook.estimate): backbone, sizes for inference and training.
    estimate_backbone: str = "vit_b"
    estimate_size: int = 1024
    estimate_train_size: int = 256
    estimate_batch: int = 24
    seed: int = 0


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci",
        phantom_cases=4,
        phantom_spacing_mm=4.0,
        image_size=32,
        slices_per_case=3,
        backbone="mini",
        batch_size=4,
        epochs=1,
        lr=1e-3,
        adapter_blocks=1,
        neighbours=2,
        interval=1,
        fusion_blocks=1,
        fusion_heads=2,
        lora_rank=2,
        volume_epochs=1,
        baseline_width=12,
        baseline_image_size=64,
        patch_3d=(32, 64, 64),
        compare_seeds=1,
        compare_items_per_volume=1,
        compare_volume_epochs=1,
        estimate_backbone="mini",
        estimate_size=128,
        estimate_train_size=64,
        estimate_batch=4,
    ),
    "cpu": Profile(
        name="cpu",
        phantom_cases=24,
        phantom_spacing_mm=2.0,
        image_size=128,
        slices_per_case=8,
        backbone="mini",
        batch_size=16,
        epochs=6,
        lr=1e-3,
        adapter_blocks=2,
        neighbours=4,
        interval=1,
        fusion_blocks=2,
        fusion_heads=4,
        lora_rank=4,
        volume_epochs=40,
        baseline_width=12,
        baseline_image_size=64,
        patch_3d=(32, 64, 64),
        compare_seeds=3,
        # The AFTer-SAM chapter's 40 epochs x 4 groups, at 64^2: with 8 x 2 (the former recipe) AFTer-SAM predicted
        # no tumour (seed 0: mean 3D Dice 0.0, against 20.9 at 40 x 4; README, "Measured").
        compare_items_per_volume=4,
        compare_volume_epochs=40,
        estimate_backbone="vit_b",
        estimate_size=1024,
        estimate_train_size=256,
        estimate_batch=24,
    ),
    "gpu": Profile(
        name="gpu",
        phantom_cases=100,
        phantom_spacing_mm=1.0,
        image_size=256,
        slices_per_case=8,
        backbone="vit_b",
        batch_size=24,
        epochs=100,
        lr=1e-3,
        adapter_blocks=6,
        neighbours=8,
        interval=1,
        fusion_blocks=6,
        fusion_heads=8,
        lora_rank=4,
        volume_epochs=550,
        baseline_width=48,
        baseline_image_size=256,
        patch_3d=(64, 128, 128),
        compare_seeds=3,
        compare_items_per_volume=1,
        compare_volume_epochs=550,
        estimate_backbone="vit_b",
        estimate_size=1024,
        estimate_train_size=256,
        estimate_batch=24,
    ),
}


def default_profile_name() -> str:
    """``gpu`` when CUDA is available, ``cpu`` otherwise."""
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def get_profile(name: str | None = None) -> Profile:
    """Return the profile called ``name``, else the one named by ``$SAMBOOK_PROFILE``, else the default.

    Raises ``ValueError`` naming the valid choices for an unknown name.
    """
    chosen = name or os.environ.get(ENV_VAR) or default_profile_name()
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r} (from {ENV_VAR} or argument); choose one of {sorted(PROFILES)}")
    return PROFILES[chosen]


def announce(profile: Profile | None = None) -> Profile:
    """Print the active profile (each chapter does this in its first cell) and return it."""
    profile = profile or get_profile()
    print(f"sambook profile: {profile.name}  (set {ENV_VAR}=ci|cpu|gpu to change)")
    return profile
