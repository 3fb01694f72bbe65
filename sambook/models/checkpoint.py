"""SAM checkpoints: download, verify, cache and load at any input size (chapter `sam_taken_apart`).

* **Download** on demand into a cache folder (``$SAMBOOK_CHECKPOINTS``, else ``data_root()/checkpoints``), through a
  ``.part`` file that is checked (size, sha256) before it takes its final name; a wrong or truncated file is
  deleted and refused with :class:`~sambook.errors.CheckpointError`.
* **Verify** wherever a file is used: :func:`resolve_checkpoint` checks an official file's size and SHA-256 (the hash
  is computed once per file version and cached under ``data_root()/cache/checksums/``, keyed by path, size and
  modification time), and the book's mini SAM against the SHA-256 of its committed provenance file: another file of
  that name is never announced as the book's.
* **Load** with ``torch.load(weights_only=True)`` (no code runs from the file).
* **Adapt** to the model's input size: the absolute position embedding ``pos_embed`` (1, H, W, C) is resized
  bicubically to the model's token grid, and the relative-position tables of the *global* attention blocks
  (2S-1, head_dim) linearly to the new 2S'-1 rows; windowed blocks keep theirs. Mask tokens and hypernetworks
  beyond the checkpoint's four are reported as missing; every other shape mismatch is an error, never dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from sambook.atomic import write_text
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
    # Meta's README publishes only the URLs. The SHA-256 of vit_l and vit_h are those that
    # computational-cell-analytics/micro-sam verifies every download against (micro_sam/util.py, its pooch registry,
    # whose vit_b entry is the ec2df627... above). The byte counts are those listed, in agreement, by public model
    # tables found by code search (e.g. a Fooocus-derived `default_models_info` table that gives vit_b 375042383
    # bytes and the same three hashes); no Meta page states them.
    "vit_l": Official(
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
        "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        1_249_524_607,
    ),
    "vit_h": Official(
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
        "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        2_564_550_879,
    ),
}
MINI_PROVENANCE = COMMITTED / "sam_mini_phantom.json"  # its "sha256" and "bytes" identify the book's mini SAM


def checkpoint_dir() -> Path:
    return Path(os.environ[ENV_VAR]).expanduser() if os.environ.get(ENV_VAR) else data_root() / "checkpoints"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_cache(path: Path) -> Path:
    """Where the verified hash of ``path`` is remembered (never beside the committed files of the repository)."""
    key = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:24]
    return data_root() / "cache" / "checksums" / f"{key}.json"


def cached_sha256(path: Path) -> str:
    """The SHA-256 of ``path``, computed once per version of the file (same size and modification time)."""
    path = Path(path)
    stat = path.stat()
    record = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    cache = checksum_cache(path)
    try:
        saved = json.loads(cache.read_text())
        if {k: saved.get(k) for k in record} == record and isinstance(saved.get("sha256"), str):
            return saved["sha256"]
    except (OSError, ValueError):
        pass
    digest = sha256_of(path)
    try:
        write_text(cache, json.dumps({**record, "sha256": digest}))
    except OSError:  # a read-only data root still verifies, just every time
        pass
    return digest


def verify(path: Path, sha256: str | None, size: int | None) -> None:
    """Raise :class:`CheckpointError` if ``path`` has the wrong size or hash (the size first: it costs nothing)."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise CheckpointError(f"{path}: {actual_size} bytes, expected {size} (truncated or wrong file)")
    if sha256 is not None and cached_sha256(path) != sha256:
        raise CheckpointError(f"{path}: sha256 does not match the published {sha256[:12]}… (corrupt or wrong file)")


def official(backbone: str) -> Official:
    """The published checkpoint of ``backbone``; an unknown backbone is a :class:`CheckpointError`."""
    if backbone not in OFFICIAL:
        known = ", ".join(OFFICIAL)
        raise CheckpointError(f"unknown backbone {backbone!r}: official SAM checkpoints exist for {known}")
    return OFFICIAL[backbone]


def download(backbone: str, *, cache_dir: Path | None = None, url: str | None = None) -> Path:
    """The official checkpoint of ``backbone``, downloaded once into ``cache_dir`` and verified.

    A file already in the cache is verified again before use; one that fails is deleted and refused.
    """
    official_file = official(backbone)
    target = Path(cache_dir or checkpoint_dir()) / Path(official_file.url).name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        try:
            urllib.request.urlretrieve(url or official_file.url, part)
            verify(part, official_file.sha256, official_file.size)
        except (OSError, CheckpointError) as error:
            part.unlink(missing_ok=True)
            if isinstance(error, CheckpointError):
                raise
            raise CheckpointError(f"could not download {url or official_file.url}: {error}") from None
        os.replace(part, target)
    try:
        verify(target, official_file.sha256, official_file.size)
    except CheckpointError:
        target.unlink()
        raise
    return target


def mini_identity() -> tuple[str, int] | None:
    """SHA-256 and size of the book's mini SAM, from its committed provenance file (None outside a checkout)."""
    if not MINI_PROVENANCE.is_file():
        return None
    try:
        provenance = json.loads(MINI_PROVENANCE.read_text())
        return str(provenance["sha256"]), int(provenance["bytes"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{MINI_PROVENANCE}: unreadable provenance ({error})") from None


def resolve_checkpoint(backbone: str, checkpoint: str | Path | None = "auto") -> tuple[Path | None, str]:
    """Which weights to use, and a sentence saying so (chapters print it); every file is checked before it is named.

    ``"auto"``: for an official backbone, its file in the cache if present (its size and SHA-256 verified); for
    ``mini``, the book's own pretrained checkpoint ``sam_mini_phantom.pth`` — the first copy (cache, data root, the
    repository's ``data/checkpoints/``) whose SHA-256 is the one in the committed provenance file; a file of that name
    with another hash is passed over and said so; else random initialisation.
    ``None``: random initialisation. A path: that file, which must exist.
    """
    if checkpoint is None:
        return None, f"{backbone}: random initialisation (no checkpoint requested)"
    if checkpoint != "auto":
        if not Path(checkpoint).is_file():
            raise CheckpointError(f"{checkpoint}: checkpoint file is missing (config key checkpoint)")
        return Path(checkpoint), f"{backbone}: weights from {checkpoint}"
    if backbone == "mini":
        return _resolve_mini()
    published = official(backbone)
    name = Path(published.url).name
    for folder in dict.fromkeys((checkpoint_dir(), data_root() / "checkpoints")):
        if (folder / name).is_file():
            try:
                verify(folder / name, published.sha256, published.size)
            except CheckpointError as error:
                raise CheckpointError(f"{error}; delete it and download again (download('{backbone}'))") from None
            return folder / name, f"{backbone}: the official SAM checkpoint ({folder / name})"
    return None, (
        f"{backbone}: random initialisation — no checkpoint found offline ({name}); "
        "results measure the code, not a pretrained foundation model"
    )


def _resolve_mini() -> tuple[Path | None, str]:
    identity = mini_identity()
    passed_over = []
    for folder in dict.fromkeys((checkpoint_dir(), data_root() / "checkpoints", COMMITTED)):
        path = folder / MINI_CHECKPOINT
        if not path.is_file():
            continue
        if identity is not None and path.stat().st_size == identity[1] and cached_sha256(path) == identity[0]:
            note = f"; passed over {', '.join(passed_over)} (not the book's)" if passed_over else ""
            return path, f"mini: the book's pretrained mini SAM ({path}, sha256 {identity[0][:12]}){note}"
        if folder == COMMITTED:
            raise CheckpointError(f"{path}: does not match its provenance {MINI_PROVENANCE} (corrupt or replaced)")
        passed_over.append(str(path))
    unverified = ""
    if passed_over:
        unverified = f"; {', '.join(passed_over)} differ from it (name one with checkpoint: PATH to use it)"
    return None, (
        f"mini: random initialisation — the book's mini SAM ({MINI_CHECKPOINT}) was not found{unverified}; "
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


#: The only keys a checkpoint may lack: the hypernetworks of mask tokens beyond its own (they start fresh).
TOKEN_HYPERNETWORKS = "mask_decoder.output_hypernetworks_mlps."


def load_into(model: torch.nn.Module, path: str | Path, *, strict_keys: bool = False) -> LoadReport:
    """Load a SAM checkpoint (official key layout) into ``model``; returns what was resized, missing, unexpected.

    A key of the model that the checkpoint lacks is an error (a half checkpoint would leave an encoder partly random),
    except the hypernetworks of extra mask tokens; unexpected keys are reported. With ``strict_keys`` any missing or
    unexpected key is an error.
    """
    state = load_state_dict(path)
    adapted, report = adapt_state_dict(state, model, source=str(path))
    if strict_keys and (report.missing or report.unexpected):
        raise CheckpointError(f"{path}: key mismatch: {report}")
    lacking = [k for k in report.missing if not k.startswith(TOKEN_HYPERNETWORKS)]
    if lacking and set(adapted) & set(model.state_dict()):
        raise CheckpointError(
            f"{path}: the checkpoint lacks {len(lacking)} of the model's tensors{_modules(lacking)} (truncated or "
            "not a checkpoint of this backbone)"
        )
    if not set(adapted) & set(model.state_dict()):
        raise CheckpointError(f"{path}: no key matches the model (is this a SAM checkpoint?)")
    model.load_state_dict(adapted, strict=False)
    return report
