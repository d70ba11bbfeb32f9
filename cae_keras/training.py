"""Seeded training with CNTK's criterion or any Keras loss."""

import math
import time

import keras
import numpy as np

from cae_keras.metrics import PerImageRMSE, per_image_rmse


def seed_everything(seed):
    """Seed Python, NumPy and the backend, so a run can be repeated."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
    keras.utils.set_random_seed(seed)


def total_steps(n_images, batch_size, epochs):
    """Optimizer steps of a run: `epochs` times the batches per epoch (the last
    one partial). Schedules that decay over the run need it."""
    return epochs * -(-n_images // batch_size)


def train_autoencoder(
    model,
    x_train,
    x_val=None,
    *,
    epochs=5,
    batch_size=64,
    learning_rate=3e-3,
    decay=True,
    loss="rmse",
    seed=0,
    verbose="auto",
    callbacks=None,
    optimizer=None,
):
    """Compile `model` with Adam (or `optimizer`) and train it to reconstruct `x_train`.

    Args:
        model: a Keras model from images to images of the same shape.
        x_train: training images, `(n, 28, 28, 1)`.
        x_val: optional validation images, evaluated after every epoch.
        epochs: passes over `x_train`. Default 5.
        batch_size: images per step. Default 64.
        learning_rate: Adam's initial step size. Default 3e-3.
        decay: whether the step size follows a cosine from `learning_rate`
            down to zero over the run; small steps at the end settle the
            weights. Default `True`.
        loss: `"rmse"`, CNTK's criterion (mean over images of each image's
            RMSE), or any Keras loss such as `"mse"`.
        seed: shuffling seed. Default 0. Seed before building the model too
            (`seed_everything`) to repeat its initial weights.
        verbose: Keras' progress output: `"auto"`, 0, 1 or 2.
        callbacks: extra Keras callbacks.
        optimizer: a Keras optimizer to use instead of Adam; `learning_rate`
            and `decay` then do not apply (CNTK's recipe passes its momentum
            SGD here).

    Returns:
        The `keras.callbacks.History` of the run; the model is trained in place.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer, got {epochs!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    if len(x_train) == 0:
        raise ValueError("`x_train` holds no images.")
    out_shape = tuple(model.output.shape[1:]) if hasattr(model, "output") else None
    if out_shape is not None and out_shape != tuple(x_train.shape[1:]):
        raise ValueError(
            f"`model` maps images to shape {out_shape}, but an autoencoder must give back "
            f"the shape of `x_train`'s images {tuple(x_train.shape[1:])} (an encoder alone "
            "cannot be trained to reconstruct)."
        )
    if not np.all(np.isfinite(x_train)):
        raise ValueError(
            "`x_train` holds NaN or infinite pixels: one of them would turn every weight "
            "into NaN. Clean or drop those images first."
        )
    seed_everything(seed)
    criterion = per_image_rmse if loss == "rmse" else loss
    if optimizer is None:
        if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate)) or (
            learning_rate <= 0
        ):
            raise ValueError(f"`learning_rate` must be a positive number, got {learning_rate!r}.")
        if decay:
            steps = total_steps(len(x_train), batch_size, epochs)
            learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
        optimizer = keras.optimizers.Adam(learning_rate)
    model.compile(
        optimizer=optimizer,
        loss=criterion,
        metrics=[PerImageRMSE()] if loss != "rmse" else None,
    )
    return model.fit(
        x_train,
        x_train,
        validation_data=None if x_val is None else (x_val, x_val),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose,
        callbacks=callbacks,
    )


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
        self.print_fn = print_fn or (lambda line: print(line, flush=True))

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        total = self.params.get("epochs", "?")
        loss = (logs or {}).get("loss", float("nan"))
        seconds = time.perf_counter() - self._start
        self.print_fn(f"{self.prefix}epoch {epoch + 1}/{total}: loss {loss:.4f} ({seconds:.1f} s)")
