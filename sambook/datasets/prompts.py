"""Prompts for the AFTer-SAM paper's Table 3, derived from the middle slice's ground truth (chapter
`how_it_compares`).

The paper ablates box, one point, three points and text against no prompt, without saying how the prompts were
made. The book derives them from the **foreground of the middle slice** (every tumour class together, label > 0:
the tumour is one object, and one prompt per slice is what a reader would draw), exactly and without jitter:

* ``box`` — the tight bounding box of the foreground, corners ``(x_min, y_min)`` and ``(x_max, y_max)`` in pixel
  coordinates (SAM's xyxy box, as its predictor takes it);
* ``point`` — the foreground pixel farthest from the background (maximum of the Euclidean distance transform;
  ties: the first in row-major order), the way SAM's own evaluation places its first click;
* ``points3`` — that point and two more foreground pixels drawn uniformly without replacement from the rest of the
  foreground with a seeded generator (fewer when the foreground has fewer pixels: repeated last point).

Prompts become SAM's sparse tokens ``(x, y, label)``: positive points have label 1, box corners labels 2 and 3,
and SAM's "not a point" token label -1. As SAM's ``PromptEncoder`` does when it gets points and no box, point
prompts end with one "not a point" padding token. A slice **without foreground** gets the same number of tokens,
all "not a point": no prompt, said explicitly (``box``: 2 tokens, ``point``: 2, ``points3``: 4, ``none``: 0).

The training loop passes only ``batch["image"]`` to a model, so the tokens travel with the slice group as one
extra plane: :func:`prompt_plane` writes ``(x, y, label)`` of each token into its first pixels, and
:func:`read_prompt_plane` reads them back (fixed shapes: the model traces without data-dependent sizes).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from torch.utils.data import Dataset

from sambook.datasets.volumes import GroupDataset

NOT_A_POINT, POSITIVE, BOX_TOP_LEFT, BOX_BOTTOM_RIGHT = -1, 1, 2, 3
TOKENS = {"none": 0, "box": 2, "point": 2, "points3": 4}  # sparse tokens per prompt kind (with SAM's padding)


def box_prompt(mask: np.ndarray) -> np.ndarray | None:
    """The tight bounding box (x_min, y_min, x_max, y_max) of a 2D mask's foreground; None when it has none."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)


def interior_point(mask: np.ndarray) -> np.ndarray | None:
    """The foreground pixel (x, y) farthest from the background (first in row-major order on ties); None if empty."""
    if not mask.any():
        return None
    distance = distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]  # the image border counts as background
    y, x = np.unravel_index(int(np.argmax(distance)), mask.shape)
    return np.array([x, y], dtype=np.float32)


def point_prompts(mask: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray | None:
    """``count`` points (count, 2) as (x, y): the interior point, then others drawn uniformly without replacement
    from the rest of the foreground with ``rng``; None when the mask is empty."""
    first = interior_point(mask)
    if first is None:
        return None
    ys, xs = np.nonzero(mask)
    rest = [i for i in range(len(ys)) if (xs[i], ys[i]) != (first[0], first[1])]
    drawn = rng.choice(rest, size=min(count - 1, len(rest)), replace=False) if count > 1 and rest else []
    points = [first] + [np.array([xs[i], ys[i]], dtype=np.float32) for i in drawn]
    points += [points[-1]] * (count - len(points))
    return np.stack(points)


def prompt_tokens(mask: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """SAM's sparse tokens (T, 3) of ``kind`` for a 2D foreground mask: rows (x, y, label); see the module docstring."""
    if kind not in TOKENS:
        raise ValueError(f"unknown prompt {kind!r}; choose one of {sorted(TOKENS)}")
    tokens = np.zeros((TOKENS[kind], 3), dtype=np.float32)
    tokens[:, 2] = NOT_A_POINT
    if kind == "box":
        box = box_prompt(mask)
        if box is not None:
            tokens[:, :2] = box.reshape(2, 2)
            tokens[:, 2] = (BOX_TOP_LEFT, BOX_BOTTOM_RIGHT)
    elif kind in ("point", "points3"):
        points = point_prompts(mask, TOKENS[kind] - 1, rng)
        if points is not None:
            tokens[:-1, :2], tokens[:-1, 2] = points, POSITIVE  # the last row stays SAM's padding token
    return tokens


def prompt_plane(tokens: np.ndarray, size: int) -> np.ndarray:
    """A (size, size) plane whose first 3T pixels (row-major) hold the tokens' (x, y, label); zeros elsewhere."""
    if tokens.size > size * size:
        raise ValueError(f"{len(tokens)} prompt tokens do not fit a {size}x{size} plane")
    plane = np.zeros(size * size, dtype=np.float32)
    plane[: tokens.size] = tokens.reshape(-1)
    return plane.reshape(size, size)


def read_prompt_plane(plane: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Planes (B, S, S) -> coordinates (B, T, 2) as (x, y) and labels (B, T) of ``count`` tokens each."""
    values = plane.reshape(plane.shape[0], -1)[:, : 3 * count].reshape(-1, count, 3)
    return values[..., :2], values[..., 2].round().long()


def slice_rng(seed: int, case: int, index: int) -> np.random.Generator:
    """The generator of the test-time prompt of slice ``index`` of volume ``case``: the same in every run."""
    return np.random.default_rng([seed, case, index])


class PromptedGroups(Dataset):
    """Slice groups with their prompt: items as :class:`~sambook.datasets.volumes.GroupDataset`'s, with
    ``image`` (N + 1, 1, S, S) — the group, then the prompt plane of its (deformed) middle slice's label. The
    points' random draws use torch's global generator (seeded by the loop), like the group's slice."""

    def __init__(self, groups: GroupDataset, kind: str):
        if kind not in TOKENS:
            raise ValueError(f"unknown prompt {kind!r}; choose one of {sorted(TOKENS)}")
        self.groups, self.kind = groups, kind

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, item: int) -> dict:
        sample = self.groups[item]
        rng = np.random.default_rng(int(torch.randint(2**31, (1,)).item()))
        tokens = prompt_tokens(sample["label"].numpy() > 0, self.kind, rng)
        plane = torch.from_numpy(prompt_plane(tokens, sample["image"].shape[-1]))
        return {**sample, "image": torch.cat([sample["image"], plane[None, None]])}
