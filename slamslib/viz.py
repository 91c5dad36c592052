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
    table[columns].plot.bar(ax=ax, rot=45, width=0.8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("")
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(axis="y", alpha=0.3)
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
