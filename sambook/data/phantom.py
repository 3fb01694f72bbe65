"""The offline multimodal glioma phantom (chapter `multimodal_mri`).

BraTS cannot be downloaded without internet, so the book makes its own cases on real anatomy:

1. anatomy — the MNI ICBM152 2009a tissue maps, scaled and warped per case (:mod:`sambook.data.anatomy`);
2. a glioma with the BraTS sub-regions (:mod:`sambook.data.tumour`);
3. four contrasts from a per-tissue intensity table with partial volume (:mod:`sambook.data.contrast`);
4. acquisition like the CMAA paper's hospital data: every modality on its own spacing and rigidly misaligned to
   T2, plus a bias field and Rician noise (:mod:`sambook.data.acquisition`).

Cases are written in the BraTS 2021 layout, ``<root>/<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz``, plus the
ground-truth transforms ``<case>_{t1,t1ce,flair}_gt.tfm`` (T2 point -> modality point) and the tissue map
``<case>_tissue.nii.gz`` (0 background, 1 CSF, 2 grey, 3 white matter; only the book's pretraining reads it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sambook.atomic import atomic_path
from sambook.data import acquisition, anatomy, contrast, tumour
from sambook.data.labels import from_internal
from sambook.data.loaders import read_image
from sambook.data.modalities import MODALITIES
from sambook.errors import DataError
from sambook.paths import data_root
from sambook.profiles import Profile, get_profile

MOVING = ("t1", "t1ce", "flair")  # T2 is the reference
NOISE_SIGMA = 0.03  # Rician sigma, relative to white matter in T1
SCALE = 1000.0  # intensities are stored in [0, ~1600]


@dataclass
class PhantomCase:
    """One case in memory. ``images`` are each on their own grid; ``seg`` and ``tissue`` on the T2 grid."""

    case_id: str
    images: dict[str, sitk.Image]
    seg: sitk.Image  # BraTS 2021 values 0/1/2/4
    tissue: sitk.Image  # 0 background, 1 CSF, 2 grey matter, 3 white matter
    gt_transforms: dict[str, sitk.Transform]  # T2 physical point -> modality physical point


def case_seed(seed: int, index: int) -> int:
    """The seed of case ``index`` of a dataset generated with ``seed`` (independent streams per case)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _image(array: np.ndarray, grid: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(grid)
    return image


def _scanner(image: sitk.Image, rng: np.random.Generator) -> sitk.Image:
    """Bias field and Rician noise, applied on the modality's own grid (they happen in its scanner)."""
    array = sitk.GetArrayFromImage(image)
    array = contrast.rician(array * contrast.bias_field(rng, array.shape), NOISE_SIGMA, rng) * SCALE
    return _image(array.astype(np.float32), image)


def tissue_map(anat: anatomy.Anatomy) -> np.ndarray:
    """Most probable tissue per voxel (1 CSF, 2 GM, 3 WM), 0 where less than half a voxel is brain."""
    stacked = np.stack([anat.probs[t] for t in anatomy.TISSUES])
    labels = (np.argmax(stacked, axis=0) + 1).astype(np.uint8)
    labels[anat.brain < 0.5] = 0
    return labels


def make_case(seed: int, *, spacing_mm: float, case_id: str | None = None, with_tumour: bool = True) -> PhantomCase:
    """Make one case from ``seed``: same seed and spacing, identical voxels and geometry."""
    rng = np.random.default_rng(seed)
    anat = anatomy.varied_anatomy(rng, spacing_mm)
    labels = tumour.glioma_labels(rng, anat, spacing_mm) if with_tumour else np.zeros_like(tissue_map(anat))
    fractions = contrast.component_fractions(anat, labels)

    images, transforms = {}, {}
    for modality in MODALITIES:
        scene = _image(contrast.clean_image(fractions, modality, rng), anat.grid)
        if modality == "t2":
            acquired = scene
        else:
            acq = acquisition.random_acquisition(rng, anat.grid, spacing_mm)
            acquired = acquisition.acquire(scene, acq)
            transforms[modality] = acq.transform
        images[modality] = _scanner(acquired, rng)

    seg = _image(from_internal(labels, "brats2021"), anat.grid)
    return PhantomCase(
        case_id=case_id or f"phantom_{seed}",
        images=images,
        seg=seg,
        tissue=_image(tissue_map(anat), anat.grid),
        gt_transforms=transforms,
    )


def write_checked(image: sitk.Image, path: Path) -> None:
    """Write ``image`` and read it back: SimpleITK writes short files on a full disk without failing."""
    sitk.WriteImage(image, str(path))
    back = read_image(path)  # DataError naming the file when it is short or unreadable
    if back.GetSize() != image.GetSize():
        raise DataError(path, f"written with size {image.GetSize()}, read back as {back.GetSize()}")


def write_case(case: PhantomCase, root: Path) -> Path:
    """Write ``case`` under ``root`` in the BraTS 2021 layout; the case folder appears whole (every image read back)
    or not at all."""
    final = Path(root) / case.case_id
    with atomic_path(final) as tmp:
        tmp.mkdir()
        for modality, image in case.images.items():
            write_checked(image, tmp / f"{case.case_id}_{modality}.nii.gz")
        write_checked(case.seg, tmp / f"{case.case_id}_seg.nii.gz")
        write_checked(case.tissue, tmp / f"{case.case_id}_tissue.nii.gz")
        for modality, transform in case.gt_transforms.items():
            path = tmp / f"{case.case_id}_{modality}_gt.tfm"
            sitk.WriteTransform(transform, str(path))
            if path.stat().st_size == 0:
                raise DataError(path, "written empty (is the disk full?)")
    return final


def case_files(case_dir: Path) -> list[Path]:
    """Every file a complete phantom case folder holds."""
    cid = case_dir.name
    names = [f"{cid}_{m}.nii.gz" for m in (*MODALITIES, "seg", "tissue")] + [f"{cid}_{m}_gt.tfm" for m in MOVING]
    return [case_dir / n for n in names]


def is_complete(case_dir: Path) -> bool:
    """Every file of the case is there and not empty (:func:`write_case` read each back before the folder appeared)."""
    return all(f.is_file() and f.stat().st_size > 0 for f in case_files(case_dir))


def generate(out: Path, *, cases: int, seed: int, spacing_mm: float, with_tumour: bool = True,
             verbose: bool = False) -> list[Path]:
    """Write ``cases`` cases under ``out`` (ids ``phantom_s{seed}_{i:03d}``); complete cases are kept as they are."""
    if cases < 1 or not spacing_mm > 0:
        raise ValueError(f"phantom: cases {cases} and spacing {spacing_mm} mm: expected cases >= 1 and spacing > 0")
    out = Path(out)
    folders = []
    for index in range(cases):
        case_id = f"phantom_s{seed}_{index:03d}"
        folder = out / case_id
        if not is_complete(folder):
            start = time.perf_counter()
            case = make_case(case_seed(seed, index), spacing_mm=spacing_mm, case_id=case_id, with_tumour=with_tumour)
            write_case(case, out)
            if verbose:
                print(f"{case_id}: {time.perf_counter() - start:.1f} s")
        folders.append(folder)
    return folders


def ensure_phantom(profile: Profile | None = None) -> Path:
    """The book's dataset for ``profile``: ``data_root()/phantom/<profile>``, generated on first use."""
    profile = profile or get_profile()
    root = data_root() / "phantom" / profile.name
    generate(root, cases=profile.phantom_cases, seed=profile.seed, spacing_mm=profile.phantom_spacing_mm)
    return root
