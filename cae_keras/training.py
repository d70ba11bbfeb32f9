"""What the jobs' training shares: the loss check, the step schedule, class
weights, and the callbacks that report progress and record curves. Each job
writes its own `compile` and `fit`, as the lessons do."""

import time

import keras
import numpy as np

from cae_keras import checks


def check_loss(loss):
    """`loss` if it is `"rmse"` (CNTK's criterion) or a loss Keras knows."""
    if loss == "rmse" or callable(loss):
        return loss
    try:
        known = keras.losses.get(loss) is not None
    except (ValueError, TypeError):
        known = False
    if not known:
        raise ValueError(
            f"`loss` must be 'rmse' (CNTK's criterion) or a Keras loss such as 'mse' or "
            f"'binary_crossentropy', got {loss!r}."
        )
    return loss


def total_steps(n_images, batch_size, epochs):
    """Optimizer steps of a run: `epochs` times the batches per epoch (the last
    one partial). Schedules that decay over the run need it."""
    n_images = checks.positive_int("n_images", n_images, minimum=0)
    batch_size = checks.positive_int("batch_size", batch_size)
    epochs = checks.positive_int("epochs", epochs, minimum=0)
    return epochs * -(-n_images // batch_size)


def step_size(learning_rate, decay, n_images, batch_size, epochs):
    """Adam's step size for a run: `learning_rate` throughout, or with
    `decay` a cosine from it down to zero at the run's last step."""
    if not decay:
        return learning_rate
    steps = total_steps(n_images, batch_size, epochs)
    return keras.optimizers.schedules.CosineDecay(learning_rate, steps)


def balanced_class_weights(masks, classes, power=0.5):
    """Per-class loss weights that make rare classes count: SegNet's *median
    frequency balancing*, softened by `power`.

    Each class `c` of pixel frequency `f[c]` in `masks` gets
    `(median(f) / f[c]) ** power`, the median taken over the classes
    present; then all are scaled so that the mean weight over the pixels is
    1 (the loss keeps its size). A class absent from `masks` gets 0.
    `power=1` is SegNet's rule; in digit scenes, where most pixels are
    background, it weights background at about a tenth of a plain pixel.
    `power=0.5` (default, lesson 10's) keeps it at about a half and each
    digit at about four.

    Args:
        masks: integer labels, any shape, values in `0..classes - 1`.
        classes: how many classes.
        power: between 0 (no balancing: every weight 1) and 1 (SegNet's).

    Returns:
        float32 `(classes,)`.

    Example:

    >>> [round(w, 3) for w in balanced_class_weights(np.array([0, 0, 0, 1]), 2, 1.0).tolist()]
    [0.667, 2.0]
    """
    masks = np.asarray(masks)
    classes = checks.positive_int("classes", classes, minimum=2)
    if masks.size == 0 or not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(
            f"`masks` must be non-empty integer labels, got {masks.dtype} {masks.shape}."
        )
    if masks.min() < 0 or masks.max() >= classes:
        raise ValueError(
            f"`masks` must hold classes 0..{classes - 1}, got {masks.min()}..{masks.max()}."
        )
    power = checks.fraction("power", power)
    frequency = np.bincount(masks.ravel(), minlength=classes) / masks.size
    present = frequency > 0
    weights = np.zeros(classes)
    weights[present] = (np.median(frequency[present]) / frequency[present]) ** power
    return (weights / np.sum(weights * frequency)).astype(np.float32)


def say(line=""):
    """Print one progress line at once (flushed), so a terminal or a log file
    shows it while the job is still running: the default `log` of every job."""
    print(line, flush=True)


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch: loss and seconds, for terminals and logs.

    Keras' own `verbose=2` line carries timings per step; this one is short
    and steady, for `python -m cae_keras reproduce`.

    Args:
        prefix: text before each line, such as the variant's name.
        print_fn: where lines go. Default `print` (flushed).
    """

    def __init__(self, prefix="", print_fn=None):
        super().__init__()
        self.prefix = prefix
        self.print_fn = print_fn or say

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        total = self.params.get("epochs", "?")
        logs = logs or {}
        seconds = time.perf_counter() - self._start
        line = f"{self.prefix}epoch {epoch + 1}/{total}: loss {logs.get('loss', float('nan')):.4f}"
        if "val_loss" in logs:
            line += f", validation loss {logs['val_loss']:.4f}"
        self.print_fn(f"{line} ({seconds:.1f} s)")


class LossCurve(keras.callbacks.Callback):
    """Record a training curve with several points per epoch.

    One point per epoch makes a one-epoch run a single dot. This callback
    records the mean training loss over each tenth (`points_per_epoch`) of an
    epoch, at its end, in epochs (0.1, 0.2, ..., 1.0, 1.1, ...), and the
    validation loss at the end of every epoch when there is one.

    Keras' running loss after `k` batches is the mean over the epoch's first
    `k` batches; the mean over batches `j+1..k` is recovered from two of them,
    `(k m_k - j m_j) / (k - j)`, without touching the training step.

    Args:
        points_per_epoch: training points per epoch. Default 10.

    Attributes:
        epochs, losses: the training curve (x in epochs, mean loss).
        val_epochs, val_losses: the validation loss at the end of each epoch.

    Example:

    >>> curve = LossCurve()
    >>> # model.fit(x, x, validation_data=(x_val, x_val), callbacks=[curve])
    >>> # plots.loss_curves({"run": curve})
    """

    def __init__(self, points_per_epoch=10):
        super().__init__()
        self.points_per_epoch = checks.positive_int("points_per_epoch", points_per_epoch)
        self.epochs, self.losses = [], []
        self.val_epochs, self.val_losses = [], []

    def on_epoch_begin(self, epoch, logs=None):
        steps = self.params.get("steps") or 1
        self._epoch, self._steps = epoch, steps
        count = min(self.points_per_epoch, steps)
        self._marks = {round(steps * (i + 1) / count) for i in range(count)}
        self._done, self._total = 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        k = batch + 1
        if k not in self._marks or not logs or "loss" not in logs:
            return
        total = float(logs["loss"]) * k
        self.epochs.append(self._epoch + k / self._steps)
        self.losses.append((total - self._total) / (k - self._done))
        self._done, self._total = k, total

    def on_epoch_end(self, epoch, logs=None):
        if logs and "val_loss" in logs:
            self.val_epochs.append(epoch + 1)
            self.val_losses.append(float(logs["val_loss"]))
