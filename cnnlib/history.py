"""``History``: the per-epoch metrics of a training run, printable and plottable.

``fit`` returns one; checkpoints store it (``state_dict``/``from_state``) so a resumed or
reloaded run shows every epoch, not only those trained since. Re-exported by ``cnnlib.train``.
"""
from __future__ import annotations


# The table of a fit run: (key, title, width, format).
FIT_COLUMNS = (("epoch", "epoch", 5, ""), ("train_loss", "train loss", 10, ".4f"),
               ("train_acc", "train acc", 9, ".4f"), ("val_loss", "val loss", 9, ".4f"),
               ("val_acc", "val acc", 8, ".4f"), ("seconds", "s", 7, ".1f"),
               ("images_per_s", "img/s", 8, ",.0f"))
FORMATS = {"seconds": ".1f", "images_per_s": ",.0f", "lr": ".3g"}  # others: ".4f"


def _cell(value, width: int, fmt: str) -> str:
    """``value`` right-aligned in ``width`` characters; ``-`` for a missing value."""
    if value is None:
        return f"{'-':>{width}}"
    try:
        return f"{value:>{width}{fmt}}"
    except (TypeError, ValueError):  # not a number: shown as it is
        return f"{str(value):>{width}}"


class History:
    """Per-epoch metrics of a ``fit`` run: ``history["val_acc"]`` is a list, ``history[-1]`` a row."""

    def __init__(self, rows=None, settings=None):
        self.rows = [dict(row) for row in (rows or [])]
        self.settings = dict(settings or {})

    def append(self, row: dict) -> None:
        self.rows.append(dict(row))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, str):
            return [row.get(key) for row in self.rows]
        return self.rows[key]

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}

    def state_dict(self) -> dict:
        """Plain lists and dicts (what a checkpoint stores); :meth:`from_state` rebuilds it."""
        return {"rows": self.rows, "settings": self.settings}

    @classmethod
    def from_state(cls, state: dict) -> History:
        """The history that :meth:`state_dict` described."""
        return cls(state.get("rows"), state.get("settings"))

    def __repr__(self) -> str:
        """A table, one row per epoch (``fit``) or per logged step (the loops of ``cnnlib.adapt``,
        whose rows hold ``step`` and their own losses instead of ``epoch``)."""
        columns = FIT_COLUMNS if not self.rows or "epoch" in self.rows[0] else self._step_columns()
        lines = [" ".join(f"{title:>{width}}" for _, title, width, _ in columns)]
        for row in self.rows:
            lines.append(" ".join(_cell(row.get(key), width, fmt) for key, _, width, fmt in columns))
        return "\n".join(lines)

    def _step_columns(self) -> list[tuple]:
        """Every key of the rows, in the order they first appear, as (key, title, width, format)."""
        keys = list(dict.fromkeys(key for row in self.rows for key in row))
        columns = []
        for key in keys:
            first = next((row[key] for row in self.rows if row.get(key) is not None), None)
            fmt = "" if isinstance(first, int) else FORMATS.get(key, ".4f")
            columns.append((key, key, max(len(key), 8), fmt))
        return columns

    def plot(self, title: str | None = None, axes=None):
        """Loss and accuracy per epoch, training and validation; returns the figure."""
        import matplotlib.pyplot as plt

        if axes is None:
            fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        else:
            fig = axes[0].figure
        epochs = self["epoch"]
        for ax, metric in zip(axes, ("loss", "acc")):
            ax.plot(epochs, self[f"train_{metric}"], "o-", label="train")
            if any(v is not None for v in self[f"val_{metric}"]):
                ax.plot(epochs, self[f"val_{metric}"], "s-", label="validation")
            ax.set_xlabel("epoch")
            ax.set_ylabel({"loss": "cross-entropy loss", "acc": "accuracy"}[metric])
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig
