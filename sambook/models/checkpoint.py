"""SAM checkpoints: download, verify, cache and load at any input size (chapter `sam_taken_apart`).

* **Download** on demand into a cache folder (``$SAMBOOK_CHECKPOINTS``, else ``data_root()/checkpoints``), through a
  ``.part`` file that is checked (size, sha256) before it takes its final name; a wrong or truncated file is
  deleted and refused with :class:`~sambook.errors.CheckpointError`.
* **Load** with ``torch.load(weights_only=True)`` (no code runs from the file).
* **Adapt** to the model's input size: the absolute position embedding ``pos_embed`` (1, H, W, C) is resized
  bicubically to the model's token grid, and the relative-position tables of the *global* attention blocks
  (2S-1, head_dim) linearly to the new 2S'-1 rows; windowed blocks keep theirs. Mask tokens and hypernetworks
  beyond the checkpoint's four are reported as missing; every other shape mismatch is an error, never dropped.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from sambook.errors import CheckpointError
from sambook.paths import REPO_ROOT, data_root

ENV_VAR = "SAMBOOK_CHECKPOINTS"
MINI_CHECKPOINT = "sam_mini_phantom.pth"
COMMITTED = REPO_ROOT / "data" / "checkpoints"  # where the repository keeps the book's mini SAM
# Decoder tensors with one row per mask token: a decoder with another number of tokens keeps the rows it shares.
PER_MASK_TOKEN = ("mask_tokens.weight", "iou_prediction_head.layers.2.weight", "iou_prediction_head.layers.2.bias")


@dataclass(frozen=True)
class Official:
    """A published SAM checkpoint. ``sha256``/``size`` are None where the project could not verify them offline."""

    url: str
    sha256: str | None
    size: int | None


OFFICIAL: dict[str, Official] = {
    "vit_b": Official(
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        375_042_383,
    ),
    "vit_l": Official("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth", None, None),
    "vit_h": Official("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth", None, None),
}


def checkpoint_dir() -> Path:
    return Path(os.environ[ENV_VAR]).expanduser() if os.environ.get(ENV_VAR) else data_root() / "checkpoints"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, sha256: str | None, size: int | None) -> None:
    """Raise :class:`CheckpointError` if ``path`` has the wrong size or hash."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise CheckpointError(f"{path}: {actual_size} bytes, expected {size} (truncated or wrong file)")
    if sha256 is not None and sha256_of(path) != sha256:
        raise CheckpointError(f"{path}: sha256 does not match the published {sha256[:12]}… (corrupt or wrong file)")


def download(backbone: str, *, cache_dir: Path | None = None, url: str | None = None) -> Path:
    """The official checkpoint of ``backbone``, downloaded once into ``cache_dir`` and verified.

    A file already in the cache is verified again before use; one that fails is deleted and refused.
    """
    official = OFFICIAL[backbone]
    target = Path(cache_dir or checkpoint_dir()) / Path(official.url).name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        try:
            urllib.request.urlretrieve(url or official.url, part)
            verify(part, official.sha256, official.size)
        except (OSError, CheckpointError) as error:
            part.unlink(missing_ok=True)
            if isinstance(error, CheckpointError):
                raise
            raise CheckpointError(f"could not download {url or official.url}: {error}") from None
        os.replace(part, target)
    try:
        verify(target, official.sha256, official.size)
    except CheckpointError:
        target.unlink()
        raise
    return target


def resolve_checkpoint(backbone: str, checkpoint: str | Path | None = "auto") -> tuple[Path | None, str]:
    """Which weights to use, and a sentence saying so (chapters print it).

    ``"auto"``: for an official backbone, its file in the cache if present; for ``mini``, the book's own
    pretrained checkpoint ``sam_mini_phantom.pth`` from the cache, else the copy committed in the repository's
    ``data/checkpoints/``; else random initialisation.
    ``None``: random initialisation. A path: that file.
    """
    if checkpoint is None:
        return None, f"{backbone}: random initialisation (no checkpoint requested)"
    if checkpoint != "auto":
        return Path(checkpoint), f"{backbone}: weights from {checkpoint}"
    name = MINI_CHECKPOINT if backbone == "mini" else Path(OFFICIAL[backbone].url).name
    folders = (checkpoint_dir(), data_root() / "checkpoints") + ((COMMITTED,) if backbone == "mini" else ())
    for folder in dict.fromkeys(folders):
        if (folder / name).is_file():
            source = "the book's pretrained mini SAM" if backbone == "mini" else "the official SAM checkpoint"
            return folder / name, f"{backbone}: {source} ({folder / name})"
    return None, (
        f"{backbone}: random initialisation — no checkpoint found offline ({name}); "
        "results measure the code, not a pretrained foundation model"
    )


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch errors all mean the same to the reader
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    return state


def resize_pos_embed(pos_embed: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(1, H, W, C) absolute position embedding resized (bicubic) to ``grid`` tokens."""
    resized = F.interpolate(pos_embed.permute(0, 3, 1, 2).float(), size=grid, mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1).to(pos_embed.dtype)


def resize_rel_pos(table: torch.Tensor, rows: int) -> torch.Tensor:
    """(2S-1, head_dim) relative-position table resized (linear) to ``rows`` = 2S'-1 rows."""
    resized = F.interpolate(table.T[None].float(), size=rows, mode="linear", align_corners=False)
    return resized[0].T.to(table.dtype)


@dataclass
class LoadReport:
    """What loading did besides copying tensors of equal shape."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(
            f"{name} {len(keys)}{_modules(keys)}"
            for name, keys in (("resized", self.resized), ("missing", self.missing), ("unexpected", self.unexpected))
        )


def _modules(keys: list[str]) -> str:
    """Keys grouped by the module that holds them: ``" (a.b.weight, c.d.* (6 tensors))"``, or "" for none."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(key.rsplit(".", 3)[0] if key.count(".") > 3 else key, []).append(key)
    names = [g[0] if len(g) == 1 else f"{prefix}.* ({len(g)} tensors)" for prefix, g in groups.items()]
    return f" ({', '.join(names)})" if names else ""


def adapt_state_dict(
    state: dict[str, torch.Tensor], model: torch.nn.Module, source: str = "checkpoint"
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Resize what can be resized to ``model``'s shapes; raise on any other mismatch."""
    target = model.state_dict()
    report = LoadReport(missing=sorted(set(target) - set(state)), unexpected=sorted(set(state) - set(target)))
    adapted, refused = {}, []
    for key, value in state.items():
        if key not in target:
            continue
        want = target[key].shape
        if value.shape == want:
            adapted[key] = value
        elif key.endswith("pos_embed") and value.dim() == 4:
            adapted[key] = resize_pos_embed(value, (want[1], want[2]))
            report.resized.append(key)
        elif key.endswith(("rel_pos_h", "rel_pos_w")) and value.shape[1:] == want[1:]:
            adapted[key] = resize_rel_pos(value, want[0])
            report.resized.append(key)
        elif key.endswith(PER_MASK_TOKEN) and value.shape[1:] == want[1:]:
            rows = min(value.shape[0], want[0])  # keep the first tokens' rows; extra tokens start fresh
            merged = target[key].clone()
            merged[:rows] = value[:rows]
            adapted[key] = merged
            report.resized.append(key)
        else:
            refused.append(f"{key}: {tuple(value.shape)} in {source}, {tuple(want)} in the model")
    if refused:
        raise CheckpointError(f"{source}: shapes that cannot be adapted: " + "; ".join(refused))
    return adapted, report


def load_into(model: torch.nn.Module, path: str | Path, *, strict_keys: bool = False) -> LoadReport:
    """Load a SAM checkpoint (official key layout) into ``model``; returns what was resized, missing, unexpected.

    With ``strict_keys`` missing or unexpected keys are an error too.
    """
    state = load_state_dict(path)
    adapted, report = adapt_state_dict(state, model, source=str(path))
    if strict_keys and (report.missing or report.unexpected):
        raise CheckpointError(f"{path}: key mismatch: {report}")
    if not set(adapted) & set(model.state_dict()):
        raise CheckpointError(f"{path}: no key matches the model (is this a SAM checkpoint?)")
    model.load_state_dict(adapted, strict=False)
    return report
