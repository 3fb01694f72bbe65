"""Figures and viewers shared by the chapters: modality panels, label overlays, alignment overlays and an
interactive slice viewer (ipywidgets) whose static fallback is a plain matplotlib figure.

Arrays follow SimpleITK's numpy order: volumes (z, y, x), stacks of modalities (4, z, y, x).
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from sambook.data.labels import CLASS_NAMES

MODALITY_NAMES = ("T1", "T1ce", "T2", "FLAIR")
LABEL_COLOURS = ListedColormap([(0, 0, 0, 0), (1.0, 0.2, 0.2, 0.6), (0.2, 0.8, 0.2, 0.45), (1.0, 0.9, 0.1, 0.7)])


def _window(image: np.ndarray) -> tuple[float, float]:
    """Display range: 1st to 99.5th percentile of the non-zero voxels."""
    values = image[image > 0]
    return (0.0, 1.0) if values.size == 0 else tuple(np.percentile(values, [1, 99.5]))


def scaled(image: np.ndarray) -> np.ndarray:
    """An image scaled to [0, 1] by its display window (see ``_window``)."""
    low, high = _window(image)
    return np.clip((image - low) / max(high - low, 1e-6), 0, 1)


def tumour_slice(labels: np.ndarray) -> int:
    """The axial slice with the most tumour voxels (the middle slice if there is no tumour)."""
    counts = (labels > 0).sum(axis=(1, 2))
    return int(np.argmax(counts)) if counts.any() else labels.shape[0] // 2


def show_slice(ax: plt.Axes, image: np.ndarray, labels: np.ndarray | None = None, title: str = "") -> None:
    """One axial slice, flipped so that anterior is up, with an optional label overlay."""
    low, high = _window(image)
    ax.imshow(image[::-1], cmap="gray", vmin=low, vmax=high)
    if labels is not None:
        ax.imshow(labels[::-1], cmap=LABEL_COLOURS, vmin=0, vmax=3, interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")


def show_modalities(images: np.ndarray, labels: np.ndarray | None, z: int, overlay: bool = True) -> plt.Figure:
    """The four modalities of slice ``z`` side by side, labels overlaid on each when ``overlay``."""
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    for ax, image, name in zip(axes, images, MODALITY_NAMES):
        show_slice(ax, image[z], labels[z] if overlay and labels is not None else None, name)
    return fig


def label_legend(fig: plt.Figure) -> None:
    handles = [plt.Rectangle((0, 0), 1, 1, color=LABEL_COLOURS(i)) for i in (1, 2, 3)]
    fig.legend(handles, CLASS_NAMES[1:], loc="lower center", ncol=3, frameon=False)


def alignment_overlay(ax: plt.Axes, fixed: np.ndarray, moving: np.ndarray, title: str = "") -> None:
    """Fixed image in green, moving image in magenta: grey where they agree, colour fringes where they do not."""
    f, m = scaled(fixed[::-1]), scaled(moving[::-1])
    ax.imshow(np.stack([m, f, m], axis=-1))
    ax.set_title(title)
    ax.axis("off")


def checkerboard(fixed: np.ndarray, moving: np.ndarray, tiles: int = 8) -> np.ndarray:
    """Alternate square tiles of two 2D images (each scaled to [0, 1]) to judge their alignment by eye."""
    ys, xs = np.indices(fixed.shape)
    mask = ((ys * tiles // fixed.shape[0]) + (xs * tiles // fixed.shape[1])) % 2 == 0
    return np.where(mask, scaled(fixed), scaled(moving))


def slice_viewer(
    cases: dict[str, tuple[np.ndarray, np.ndarray]],
    draw: Callable[[np.ndarray, np.ndarray, int, int, bool], plt.Figure] | None = None,
):
    """An ipywidgets viewer over ``cases`` ({case id: (images (4, z, y, x), labels (z, y, x))}) with sliders for
    case, modality, slice and label overlay. Returns the widget; in a static page (the HTML book) it shows
    nothing, so chapters always draw a static figure as well."""
    import ipywidgets as widgets

    def default_draw(images, labels, modality, z, overlay):
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        show_slice(ax, images[modality][z], labels[z] if overlay else None, f"{MODALITY_NAMES[modality]}, z = {z}")
        return fig

    draw = draw or default_draw
    first = next(iter(cases.values()))
    case_w = widgets.Dropdown(options=list(cases), description="case")
    modality_w = widgets.Dropdown(
        options=[(n, i) for i, n in enumerate(MODALITY_NAMES)], value=3, description="modality"
    )
    z_w = widgets.IntSlider(value=tumour_slice(first[1]), min=0, max=first[0].shape[1] - 1, description="slice")
    overlay_w = widgets.Checkbox(value=True, description="labels")

    def on_case(change):
        z_w.max = cases[change["new"]][0].shape[1] - 1
        z_w.value = tumour_slice(cases[change["new"]][1])

    case_w.observe(on_case, names="value")

    def show(case, modality, z, overlay):
        images, labels = cases[case]
        draw(images, labels, modality, min(z, images.shape[1] - 1), overlay)
        plt.show()

    return widgets.interactive(show, case=case_w, modality=modality_w, z=z_w, overlay=overlay_w)
