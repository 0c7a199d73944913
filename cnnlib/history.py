"""``History``: the per-epoch metrics of a training run, printable and plottable.

``fit`` returns one; checkpoints store it (``state_dict``/``from_state``) so a resumed or
reloaded run shows every epoch, not only those trained since. Re-exported by ``cnnlib.train``.
"""
from __future__ import annotations


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
        head = f"{'epoch':>5} {'train loss':>10} {'train acc':>9} {'val loss':>9} {'val acc':>8} {'s':>7} {'img/s':>8}"
        lines = [head]
        for row in self.rows:
            def cell(key, width, fmt, row=row):
                value = row.get(key)
                return f"{'-':>{width}}" if value is None else f"{value:>{width}{fmt}}"
            lines.append(f"{row['epoch']:>5} {cell('train_loss', 10, '.4f')} {cell('train_acc', 9, '.4f')} "
                         f"{cell('val_loss', 9, '.4f')} {cell('val_acc', 8, '.4f')} "
                         f"{cell('seconds', 7, '.1f')} {cell('images_per_s', 8, ',.0f')}")
        return "\n".join(lines)

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
