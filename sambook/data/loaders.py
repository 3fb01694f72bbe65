"""Loaders for real multimodal glioma data, mapped to one internal convention (chapter `multimodal_mri`).

Three layouts are understood:

* ``brats2021`` — ``<root>/<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz``, labels 0/1/2/4 (also the phantom's);
* ``brats2023`` — ``<root>/<case>/<case>-{t1n,t1c,t2w,t2f,seg}.nii.gz``, labels 0/1/2/3;
* ``msd`` — Medical Segmentation Decathlon Task01_BrainTumour: ``imagesTr/<case>.nii.gz`` holds one 4D image
  with channels FLAIR, T1, T1gd, T2; ``labelsTr/<case>.nii.gz`` labels 1 oedema, 2 non-enhancing, 3 enhancing.

Every loader validates what it reads and raises :class:`sambook.errors.DataError` naming the file and the problem:
a missing modality, an unreadable or truncated file, NaN/Inf voxels, unknown label values, or a label map whose
grid (size, spacing, origin, direction) differs from its reference image. The label is checked against **T2**:
BraTS and MSD ship co-registered modalities, but the phantom keeps T1, T1ce and FLAIR on their own grids on purpose
(chapter `registration` registers them), so only T2 shares the label's grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel
import numpy as np
import SimpleITK as sitk

from sambook.atomic import atomic_path
from sambook.data.labels import from_internal, to_internal
from sambook.data.modalities import MODALITIES
from sambook.errors import DataError

BRATS2023_SUFFIX = {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f"}
MSD_CHANNELS = ("flair", "t1", "t1ce", "t2")  # channel order of Task01_BrainTumour's 4D images
LAYOUTS = ("brats2021", "brats2023", "msd")
GEOMETRY_TOLERANCE = 1e-3


@dataclass
class Case:
    """One multimodal case. ``label`` is in the internal convention (:mod:`sambook.data.labels`)."""

    case_id: str
    images: dict[str, sitk.Image]  # keys MODALITIES
    label: sitk.Image  # uint8, internal codes, on the T2 grid
    gt_transforms: dict[str, sitk.Transform] | None = None  # phantom only: T2 point -> modality point


GZIP_MAX_RATIO = 1032  # deflate cannot compress more than about 1032:1, so a .gz file holds at most this many bytes


def check_size(path: Path, header) -> None:
    """Refuse a file too small for the voxels its header claims, before any voxel is allocated: an uncompressed file
    must hold them; a gzip file cannot inflate beyond :data:`GZIP_MAX_RATIO` times its size, and its trailer records
    the inflated size (modulo 2**32)."""
    shape = tuple(int(n) for n in header.get_data_shape())
    needed = int(np.prod(shape, dtype=np.int64)) * header.get_data_dtype().itemsize + int(header.get_data_offset())
    size = path.stat().st_size
    if path.suffix == ".gz":
        with open(path, "rb") as handle:
            handle.seek(-4, 2)
            inflated = int.from_bytes(handle.read(4), "little")
        too_small = needed > size * GZIP_MAX_RATIO or (needed < 2**32 and inflated < needed)
        have = f"{size} compressed bytes ({inflated} inflated)"
    else:
        too_small, have = size < needed, f"{size} bytes"
    if too_small:
        raise DataError(
            path, f"unreadable or truncated image (its header claims {shape} voxels, {needed} bytes; the file has {have})"
        )


def read_image(path: Path) -> sitk.Image:
    """Read a NIfTI file, refusing missing, unreadable, truncated and non-finite ones.

    The header is checked against the file's size first (:func:`check_size`), so a damaged header never allocates
    its claimed voxels. The voxels are then read in full with nibabel: SimpleITK's NIfTI reader accepts some truncated
    files and silently turns NaN into 0, so neither problem would be seen through it alone.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file is missing")
    try:
        nifti = nibabel.load(str(path))
        check_size(path, nifti.header)
        voxels = np.asanyarray(nifti.dataobj)
        image = sitk.ReadImage(str(path))
    except DataError:
        raise
    except Exception as error:  # nibabel and ITK raise many types for a damaged file
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise DataError(path, f"unreadable or truncated image ({reason})") from None
    if np.issubdtype(voxels.dtype, np.floating) and not np.isfinite(voxels).all():
        raise DataError(path, f"{int((~np.isfinite(voxels)).sum())} NaN/Inf voxels")
    return image


def same_grid(a: sitk.Image, b: sitk.Image) -> str | None:
    """None when ``a`` and ``b`` share size, spacing, origin and direction; else what differs."""
    if a.GetSize() != b.GetSize():
        return f"size {a.GetSize()} != {b.GetSize()}"
    for name in ("Spacing", "Origin", "Direction"):
        va, vb = np.array(getattr(a, f"Get{name}")()), np.array(getattr(b, f"Get{name}")())
        if not np.allclose(va, vb, atol=GEOMETRY_TOLERANCE):
            return f"{name.lower()} {tuple(np.round(va, 4).tolist())} != {tuple(np.round(vb, 4).tolist())}"
    return None


def _label(path: Path, image: sitk.Image, reference: sitk.Image, convention: str) -> sitk.Image:
    mismatch = same_grid(image, reference)
    if mismatch:
        raise DataError(path, f"label grid does not match its T2 image: {mismatch}")
    try:
        internal = to_internal(sitk.GetArrayFromImage(image), convention)
    except ValueError as error:
        raise DataError(path, str(error)) from None
    label = sitk.GetImageFromArray(internal)
    label.CopyInformation(image)
    return label


def _transforms(case_dir: Path, case_id: str) -> dict[str, sitk.Transform] | None:
    files = {m: case_dir / f"{case_id}_{m}_gt.tfm" for m in ("t1", "t1ce", "flair")}
    if not all(f.is_file() for f in files.values()):
        return None
    transforms = {}
    for modality, path in files.items():
        try:
            transforms[modality] = sitk.ReadTransform(str(path))
        except RuntimeError:
            raise DataError(path, "unreadable transform file") from None
    return transforms


def load_brats(case_dir: Path, convention: str = "brats2021") -> Case:
    """Load one case folder in the BraTS 2021 or 2023 layout (the phantom writes BraTS 2021)."""
    case_dir = Path(case_dir)
    case_id = case_dir.name
    if convention == "brats2021":
        paths = {m: case_dir / f"{case_id}_{m}.nii.gz" for m in (*MODALITIES, "seg")}
    elif convention == "brats2023":
        paths = {m: case_dir / f"{case_id}-{BRATS2023_SUFFIX[m]}.nii.gz" for m in MODALITIES}
        paths["seg"] = case_dir / f"{case_id}-seg.nii.gz"
    else:
        raise ValueError(f"unknown BraTS convention {convention!r}")
    for modality, path in paths.items():
        if not path.is_file():
            raise DataError(path, f"missing {'label map' if modality == 'seg' else 'modality ' + modality}")
    images = {m: read_image(paths[m]) for m in MODALITIES}
    for modality, image in images.items():
        if image.GetDimension() != 3:
            raise DataError(paths[modality], f"expected a 3D image, got {image.GetDimension()}D size {image.GetSize()}")
    label = _label(paths["seg"], read_image(paths["seg"]), images["t2"], convention)
    return Case(case_id, images, label, _transforms(case_dir, case_id))


def load_msd(root: Path, case_id: str) -> Case:
    """Load case ``case_id`` (e.g. ``BRATS_001``) of an MSD Task01_BrainTumour folder."""
    root = Path(root)
    image_path, label_path = root / "imagesTr" / f"{case_id}.nii.gz", root / "labelsTr" / f"{case_id}.nii.gz"
    volume = read_image(image_path)
    if volume.GetDimension() != 4 or volume.GetSize()[3] != len(MSD_CHANNELS):
        raise DataError(image_path, f"expected a 4D image with {len(MSD_CHANNELS)} channels "
                                    f"({', '.join(MSD_CHANNELS)}), got size {volume.GetSize()}")
    x, y, z, _ = volume.GetSize()
    images = {m: sitk.Extract(volume, [x, y, z, 0], [0, 0, 0, c]) for c, m in enumerate(MSD_CHANNELS)}
    label = _label(label_path, read_image(label_path), images["t2"], "msd")
    return Case(case_id, {m: images[m] for m in MODALITIES}, label)


def list_cases(root: Path, layout: str) -> list[str]:
    """Case ids under ``root`` for a layout, sorted; a missing folder or one without cases is an error."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such data folder")
    if layout == "msd":
        cases = sorted(p.name[: -len(".nii.gz")] for p in (root / "imagesTr").glob("*.nii.gz")
                       if not p.name.startswith("."))
    else:
        cases = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not cases:
        expected = "imagesTr/<case>.nii.gz" if layout == "msd" else "one folder per case"
        raise DataError(root, f"no cases in the {layout} layout (expected {expected})")
    return cases


def load_case(root: Path, case_id: str, layout: str = "brats2021") -> Case:
    """Load one case of any layout by id."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    return load_msd(root, case_id) if layout == "msd" else load_brats(Path(root) / case_id, layout)


def write_case(case: Case, root: Path, layout: str) -> Path:
    """Write a case in a layout (the reverse of :func:`load_case`; used to test the loaders and to hand phantom
    cases to tools that expect BraTS 2023 or MSD files). ``msd`` stacks the modalities into one 4D image, so there
    they must share the label's grid (register them first, chapter `registration`)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    root = Path(root)
    label = sitk.GetImageFromArray(from_internal(sitk.GetArrayFromImage(case.label), layout))
    label.CopyInformation(case.label)
    if layout == "msd":
        volume = sitk.JoinSeries([sitk.Cast(case.images[m], sitk.sitkFloat32) for m in MSD_CHANNELS])
        for folder, image in (("imagesTr", volume), ("labelsTr", label)):
            with atomic_path(root / folder / f"{case.case_id}.nii.gz") as tmp:
                sitk.WriteImage(image, str(tmp))
        return root
    names = ({m: f"{case.case_id}_{m}" for m in MODALITIES} if layout == "brats2021"
             else {m: f"{case.case_id}-{BRATS2023_SUFFIX[m]}" for m in MODALITIES})
    sep = "_" if layout == "brats2021" else "-"
    with atomic_path(root / case.case_id) as tmp:
        tmp.mkdir()
        for modality, image in case.images.items():
            sitk.WriteImage(image, str(tmp / f"{names[modality]}.nii.gz"))
        sitk.WriteImage(label, str(tmp / f"{case.case_id}{sep}seg.nii.gz"))
    return root / case.case_id


def download_msd_brain(root: Path) -> Path:
    """Download MSD Task01_BrainTumour (about 7 GB) with MONAI's ``DecathlonDataset``; needs internet.

    Not run by the book or CI. Afterwards ``load_case(root / "Task01_BrainTumour", "BRATS_001", "msd")`` works.
    """
    from monai.apps import DecathlonDataset

    DecathlonDataset(root_dir=str(root), task="Task01_BrainTumour", section="training", download=True,
                     cache_num=0, transform=lambda x: x)
    return Path(root) / "Task01_BrainTumour"
