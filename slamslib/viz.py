"""Figures: sample grids, bars. Every function returns a matplotlib Figure; `save` writes PNGs."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from .data.palette import colorize
from .data.synthetic import split_region_code
from .paths import atomic_path

# Region kinds as colours: plain background, context, body, cue.
matplotlib.rcParams.update({"figure.max_open_warning": 0})

REGION_COLOURS = np.array([[40, 40, 40], [230, 160, 40], [60, 170, 230], [240, 50, 80]], np.uint8)


def _pyplot():
    import matplotlib.pyplot as plt
    return plt


def save(fig, path: str | Path, dpi: int = 110) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)   # notebooks show the PNG; an open figure would be drawn a second time
    return path


def _finish(fig, axes, title: str):
    """Image grids: no axes, an optional title, tight."""
    for ax in axes.flat:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def region_image(region: np.ndarray) -> np.ndarray:
    kind, _ = split_region_code(region)
    return REGION_COLOURS[kind]


def sample_grid(rows: list[dict], class_names, title: str = ""):
    """rows: dicts with 'image', 'mask', optional 'region', 'labels' (multi-hot), 'name'."""
    plt = _pyplot()
    has_region = any(r.get("region") is not None for r in rows)
    cols = 3 if has_region else 2
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.3 * cols, 2.3 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        present = [class_names[i + 1] for i in np.flatnonzero(row["labels"])]
        ax_row[0].imshow(row["image"])
        ax_row[0].set_title(", ".join(present) or "(no object)", fontsize=8)
        ax_row[1].imshow(colorize(row["mask"]))
        ax_row[1].set_title("ground truth (white: void)", fontsize=8)
        if has_region:
            ax_row[2].imshow(region_image(row["region"]))
            ax_row[2].set_title("regions: plain/context/body/cue", fontsize=8)
    return _finish(fig, axes, title)


def bar_table(table: pd.DataFrame, columns: list[str], title: str, ylabel: str, ylim=None):
    """Grouped bars, one group per row of `table`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(table) + 2), 3.2))
    if table[columns].notna().any().any():
        table[columns].plot.bar(ax=ax, rot=45, width=0.8)
    else:   # an empty chart would look like a plotting failure
        ax.text(0.5, 0.5, "no category has a value to show", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("")
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def ablation_bars(runs: pd.DataFrame, rows: list[str], column: str, ylabel: str):
    """One bar per ablation row at its mean over seeds, the std as an error bar, each seed a dot."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(rows) + 2), 3.6))
    for x, row in enumerate(rows):
        values = runs.loc[runs.row == row, column].to_numpy(float)
        std = values.std(ddof=1) if len(values) > 1 else 0
        ax.bar(x, values.mean(), yerr=std, capsize=3, color="C0" if x else "C1", alpha=0.8)
        ax.plot(np.full(len(values), x), values, "k.", ms=4)
    ax.set_xticks(range(len(rows)), rows, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title("ablation: mean ± std over seeds (dots: each seed)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def heatmap(table: pd.DataFrame, title: str):
    """A numeric table as coloured cells with their values (rows x columns as in the table)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(0.75 * table.shape[1] + 2.5, 0.35 * table.shape[0] + 1.5))
    ax.imshow(table.to_numpy(float), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for (i, j), value in np.ndenumerate(table.to_numpy(float)):
        ax.text(j, i, "" if np.isnan(value) else f"{value:.0f}", ha="center", va="center", fontsize=7,
                color="w" if value < 60 else "k")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=7)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def loss_curves(logs: dict[str, pd.DataFrame], smooth: int = 20):
    """One panel per network: every loss term against the iteration (a running mean over `smooth`)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(logs), figsize=(4.2 * len(logs), 3), squeeze=False)
    for ax, (name, log) in zip(axes[0], logs.items()):
        terms = [c for c in log.columns if c not in ("iteration", "epoch", "lr")]
        for term in terms:
            ax.plot(log["iteration"], log[term].rolling(smooth, min_periods=1).mean(), label=term,
                    lw=2 if term == "total" else 1)
        ax.set_title(name)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def threshold_curves(curves: dict[str, dict]):
    """Seed mIoU against the background threshold, one line per method (ThresholdSweep results)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, result in curves.items():
        ax.plot(result["thresholds"], result["miou"], marker=".", label=name)
        ax.axvline(result["best_threshold"], ls=":", color=ax.lines[-1].get_color())
    ax.set_xlabel("background threshold t")
    ax.set_ylabel("seed mIoU (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def labelled_examples(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to `count` images spread evenly over those with a labelled category (an image
    with none has no map to show: the methods store maps of labelled categories only)."""
    labelled = np.flatnonzero(np.asarray(labels).any(axis=1))
    return labelled[np.unique(np.linspace(0, len(labelled) - 1, min(count, len(labelled))).astype(int))]


def map_grid(rows: list[dict], class_names, title: str = ""):
    """rows: 'image', 'mask', and per method name -> (maps, classes, label image). Each method gets
    its label image and the map of the image's first labelled category."""
    plt = _pyplot()
    methods = [k for k in rows[0] if k not in ("image", "mask", "name")]
    cols = 2 + 2 * len(methods)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.9 * cols, 2 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        ax_row[0].imshow(row["image"])
        ax_row[0].set_title(row.get("name", ""), fontsize=7)
        ax_row[1].imshow(colorize(row["mask"]))
        ax_row[1].set_title("ground truth", fontsize=7)
        for j, method in enumerate(methods):
            maps, classes, labels = row[method]
            first = int(np.flatnonzero(classes > 0)[0]) if (classes > 0).any() else 0
            ax_row[2 + 2 * j].imshow(maps[first], cmap="jet", vmin=0, vmax=1)
            ax_row[2 + 2 * j].set_title(f"{method}: {class_names[classes[first]]}", fontsize=7)
            ax_row[3 + 2 * j].imshow(colorize(labels))
            ax_row[3 + 2 * j].set_title(f"{method} seed", fontsize=7)
    return _finish(fig, axes, title)


def label_grid(rows: list[dict], title: str = ""):
    """rows: 'image', 'name', then any number of column title -> label image (VOC colours; white
    is 255: void in the ground truth, unsure in a pseudo label)."""
    plt = _pyplot()
    columns = [k for k in rows[0] if k not in ("image", "name")]
    cols = 1 + len(columns)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.8 * cols, 1.9 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        ax_row[0].imshow(row["image"])
        ax_row[0].set_title(row.get("name", ""), fontsize=7)
        for ax, column in zip(ax_row[1:], columns):
            ax.imshow(colorize(row[column]))
            ax.set_title(column, fontsize=7)
    return _finish(fig, axes, title)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """A map in [0, 1] over its image (jet colours), for the eye."""
    from matplotlib import colormaps
    colour = colormaps["jet"](np.clip(heat, 0, 1))[..., :3] * 255
    return (image * (1 - alpha) + colour * alpha).astype(np.uint8)


def class_map_grid(rows: list[dict], class_names, title: str = ""):
    """One row per (image, labelled category): image, ground truth, then each method's map of that
    category over the image. rows: 'image', 'mask', 'name', 'category', and method -> map (H x W)."""
    plt = _pyplot()
    methods = [k for k in rows[0] if k not in ("image", "mask", "name", "category")]
    cols = 2 + len(methods)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2 * cols, 2 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        ax_row[0].imshow(row["image"])
        ax_row[0].set_title(f"{row['name']}: {class_names[row['category']]}", fontsize=7)
        ax_row[1].imshow(colorize(row["mask"]))
        ax_row[1].set_title("ground truth", fontsize=7)
        for ax, method in zip(ax_row[2:], methods):
            ax.imshow(overlay(row["image"], row[method]))
            ax.set_title(f"{method} map", fontsize=7)
    return _finish(fig, axes, title)


def map_browser(split, maps_root: Path, methods, thresholds: dict):
    """A small ipywidgets browser for a live notebook: image, category, method, threshold."""
    import ipywidgets as widgets
    from IPython.display import display

    from .maps import load_maps, seed_labels
    plt = _pyplot()
    image = widgets.IntSlider(0, 0, len(split) - 1, description="image")
    method = widgets.ToggleButtons(options=list(methods), description="method")
    category = widgets.Dropdown(description="category")
    threshold = widgets.FloatSlider(thresholds[method.value], min=0, max=1, step=0.05,
                                    description="threshold")
    out = widgets.Output()

    def draw(*_):
        maps, classes = load_maps(maps_root / method.value / f"{split.names[image.value]}.npz")
        names = {split.class_names[c]: j for j, c in enumerate(classes) if c > 0}
        category.unobserve(draw, "value")
        category.options = list(names) or ["(none)"]
        category.observe(draw, "value")
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, 4, figsize=(11, 3))
            picture = split.image(image.value)
            axes[0].imshow(picture)
            axes[1].imshow(colorize(split.mask(image.value)))
            if names:
                axes[2].imshow(overlay(picture, maps[names[category.value]]))
            axes[3].imshow(colorize(seed_labels(maps, classes, threshold.value)))
            for ax, title in zip(axes, ("image", "ground truth", f"{category.value} map", "seed")):
                ax.set_title(title, fontsize=8)
                ax.axis("off")
            plt.show()

    for w in (image, method, threshold):
        w.observe(draw, "value")
    category.observe(draw, "value")
    draw()
    display(widgets.VBox([widgets.HBox([image, method]), widgets.HBox([category, threshold]), out]))
