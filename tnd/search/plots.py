"""pareto.png: validation accuracy against each cost, the non-dominated points joined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tnd import atomic
from tnd.costs.objectives import by_field


def plot_front(result: dict[str, Any], path: str | Path) -> Path:
    # matplotlib's object API with its Agg canvas: no pyplot, so a notebook's backend is never switched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    entries = result["genotypes"]
    fields = [f for f in result["hypervolume"]["objectives"] if f != "error"]
    fig = Figure(figsize=(4.5 * len(fields), 3.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(fields), squeeze=False)
    front = set(result["pareto"])
    for ax, f in zip(axes[0], fields):
        objective = by_field(f)
        xs = [e["objectives"][f] * objective.display_scale for e in entries]
        ys = [e["objectives"]["accuracy"] for e in entries]
        est = any(e["sources"].get(f) == "estimated" for e in entries)
        ax.scatter(xs, ys, c=["tab:red" if i in front else "tab:gray" for i in range(len(entries))], zorder=3)
        for i, e in enumerate(entries):
            ax.annotate(e["preference"]["name"], (xs[i], ys[i]), fontsize=8, xytext=(4, 4),
                        textcoords="offset points")
        pts = sorted((xs[i], ys[i]) for i in front)
        if len(pts) > 1:
            ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", color="tab:red", alpha=0.6)
        ax.set_xlabel(objective.label + (" (ESTIMATE)" if est else ""))
        src = entries[0]["sources"]["accuracy"] if entries else ""
        ax.set_ylabel(f"val accuracy ({src.split('-')[1]}-epoch training)" if src.startswith("trained-")
                      else "accuracy (from the table)" if src == "tabular" else "supernet validation accuracy")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{result['config']['name']}: derived genotypes (red: Pareto front)")
    fig.tight_layout()
    return atomic.save_with(path, lambda p: fig.savefig(p, format="png", dpi=110))
