"""History: the per-epoch logs that ``Model.fit`` returns."""

__all__ = ["History"]


class History:
    """``history`` maps each metric name ("loss", "accuracy", "val_loss", ...) to one value per epoch."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.params = {}
        self.model = None

    def record(self, epoch, logs):
        """Append the logs of ``epoch``."""
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def plot(self, path, title="Training history"):
        """Write the loss curves (left) and every other metric (right) to a PNG at ``path``."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        if not self.history:
            raise ValueError("History.plot: nothing recorded yet (call fit first)")
        names = [k for k in self.history if not k.startswith("val_") and k != "lr"]
        losses = [k for k in names if "loss" in k]
        others = [k for k in names if "loss" not in k]
        fig, axes = plt.subplots(1, 2 if others else 1, figsize=(10 if others else 5, 4), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for ax, group, label in zip(axes[0], (losses, others), ("loss", "metric")):
            for key in group:
                ax.plot(epochs, self.history[key], marker="o", label=key)
                if "val_" + key in self.history:
                    ax.plot(epochs, self.history["val_" + key], marker="o", linestyle="--", label="val_" + key)
            ax.set(xlabel="epoch", ylabel=label)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path
