"""Evaluation plots: precision-recall curves, per-label confusion matrices and per-language P/R/F1, as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curves(Y: np.ndarray, P: np.ndarray, thresholds, labels: list[str], path: Path, title: str) -> Path:
    """One precision-recall curve per label, with the operating point of its threshold marked (`thresholds`:
    one per label, or one per row and label)."""
    from sklearn.metrics import precision_recall_curve

    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=float), P.shape)

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for j, label in enumerate(labels):
        if not Y[:, j].any():
            continue
        precision, recall, _ = precision_recall_curve(Y[:, j], P[:, j])
        (line,) = ax.plot(recall, precision, label=label)
        predicted = P[:, j] >= thresholds[:, j]
        tp = int((predicted & (Y[:, j] == 1)).sum())
        op_recall = tp / max(int(Y[:, j].sum()), 1)
        op_precision = tp / max(int(predicted.sum()), 1)
        ax.plot([op_recall], [op_precision], "o", color=line.get_color())
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion_matrices(
    Y: np.ndarray, P: np.ndarray, thresholds, labels: list[str], path: Path, title: str
) -> Path:
    """A 2x2 confusion matrix per label at its threshold (one per label, or one per row and label)."""
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=float), P.shape)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(labels), figsize=(3.2 * len(labels), 3.3), squeeze=False)
    for j, (ax, label) in enumerate(zip(axes[0], labels, strict=True)):
        predicted = (P[:, j] >= thresholds[:, j]).astype(int)
        matrix = np.array([[((Y[:, j] == a) & (predicted == b)).sum() for b in (0, 1)] for a in (0, 1)])
        ax.imshow(matrix, cmap="Blues")
        for a in (0, 1):
            for b in (0, 1):
                color = "white" if matrix[a, b] > matrix.max() / 2 else "black"
                ax.text(b, a, str(matrix[a, b]), ha="center", va="center", color=color)
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["no", "yes"], yticklabels=["no", "yes"],
               xlabel="predicted", ylabel="true", title=label)  # fmt: skip
        ax.title.set_fontsize(9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_language_figures(by_language: dict[str, dict], labels: list[str], path: Path, title: str) -> Path:
    """Precision, recall and F1 of every label in every language (`metrics_by_language`'s figures), one panel
    per language; a label with no positive row in a language is left empty (its F1 is undefined)."""
    plt = _pyplot()
    codes = list(by_language)
    fig, axes = plt.subplots(1, max(len(codes), 1), figsize=(3.6 * max(len(codes), 1), 3.4), squeeze=False)
    width = 0.26
    for ax, code in zip(axes[0], codes, strict=False):
        figures = by_language[code]["labels"]
        for k, measure in enumerate(("precision", "recall", "f1")):
            values = [figures[label][measure] if figures[label].get("support") else np.nan for label in labels]
            ax.bar(np.arange(len(labels)) + (k - 1) * width, values, width, label=measure)
        rows = by_language[code].get("rows")
        ax.set(ylim=(0, 1), xticks=np.arange(len(labels)), title=f"{code}" + (f" ({rows} rows)" if rows else ""))
        names = [f"{label.split('_')[0]}\n{figures[label].get('support', 0)} pos." for label in labels]
        ax.set_xticklabels(names, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    if codes:
        fig.legend(*axes[0][0].get_legend_handles_labels(), loc="upper right", fontsize=7, ncol=3)
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(
    Y: np.ndarray,
    P: np.ndarray,
    thresholds,
    labels: list[str],
    out_dir: Path,
    title: str,
    by_language: dict[str, dict] | None = None,
    language_title: str | None = None,
) -> list[Path]:
    """Write `pr_curves.png` and `confusion_matrices.png` into `out_dir`, and `by_language.png` when
    per-language figures are given (`language_title` names where they come from); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        plot_pr_curves(Y, P, thresholds, labels, out_dir / "pr_curves.png", f"Precision-recall: {title}"),
        plot_confusion_matrices(Y, P, thresholds, labels, out_dir / "confusion_matrices.png", title),
    ]
    if by_language:
        name = f"P/R/F1 by language: {language_title or title}"
        paths.append(plot_language_figures(by_language, labels, out_dir / "by_language.png", name))
    return paths
