"""Seeded training with CNTK's criterion or any Keras loss."""

import contextlib
import time

import keras
import numpy as np

from cae_keras import checks
from cae_keras.metrics import PerImageRMSE, per_image_rmse


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


def train_autoencoder(
    model,
    x_train,
    *,
    epochs=5,
    batch_size=64,
    learning_rate=3e-3,
    decay=True,
    loss="rmse",
    verbose="auto",
    callbacks=None,
    optimizer=None,
):
    """Compile `model` with Adam (or `optimizer`) and train it to reconstruct
    `x_train`: the training step of the `reproduce` and `anomaly` jobs. (The
    lessons write theirs out: `compile`, then `fit`.)

    Args:
        model: a Keras model from images to images of the same shape; a
            fully convolutional one (`keras.Input((None, None, c))`) is
            checked on the first image.
        x_train: training images, `(n, 28, 28, 1)`.
        epochs: passes over `x_train`. Default 5.
        batch_size: images per step. Default 64.
        learning_rate: Adam's initial step size. Default 3e-3.
        decay: whether the step size follows a cosine from `learning_rate`
            down to zero over the run; small steps at the end settle the
            weights. Default `True`.
        loss: `"rmse"`, CNTK's criterion (mean over images of each image's
            RMSE), or any Keras loss such as `"mse"`.
        verbose: Keras' progress output: `"auto"`, 0, 1 or 2.
        callbacks: extra Keras callbacks.
        optimizer: a Keras optimizer to use instead of Adam; `learning_rate`
            and `decay` then do not apply (CNTK's recipe passes its momentum
            SGD here).

    Returns:
        `(model, history)`, as every training helper returns: `model` itself,
        trained in place, and the run's `keras.callbacks.History`.
    """
    epochs = checks.positive_int("epochs", epochs)
    batch_size = checks.positive_int("batch_size", batch_size)
    if optimizer is None:
        learning_rate = checks.positive_number("learning_rate", learning_rate)
    check_loss(loss)
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model, got {type(model).__name__}.")
    # Arrays of any kind (a Python list included) are converted; the rank
    # is the model's input rank.
    rank = len(model.inputs[0].shape) if getattr(model, "inputs", None) else 4
    x_train = checks.images("x_train", x_train, rank=rank)
    if len(x_train) == 0:
        raise ValueError("`x_train` holds no images.")
    if not np.all(np.isfinite(x_train)):
        raise ValueError(
            "`x_train` holds NaN or infinite pixels: one of them would turn every weight "
            "into NaN. Clean or drop those images first."
        )
    out_shape = tuple(model.output.shape[1:]) if hasattr(model, "output") else None
    image_shape = tuple(x_train.shape[1:])
    if out_shape is not None and None in out_shape and len(out_shape) == len(image_shape):
        # A fully convolutional model (`keras.Input((None, None, 1))`) shows
        # its output size only on a real image: the first one tells.
        out_shape = tuple(int(d) for d in keras.ops.shape(model(x_train[:1]))[1:])
    if out_shape is not None and out_shape != image_shape:
        raise ValueError(
            f"`model` maps images to shape {out_shape}, but an autoencoder must give back "
            f"the shape of `x_train`'s images {image_shape} (an encoder alone cannot be "
            "trained to reconstruct)."
        )
    # No reseeding here: the caller seeds once (`keras.utils.set_random_seed`),
    # before building the model, and the shuffling continues that stream.
    if optimizer is None:
        optimizer = keras.optimizers.Adam(
            step_size(learning_rate, decay, len(x_train), batch_size, epochs)
        )
    model.compile(
        optimizer=optimizer,
        loss=per_image_rmse if loss == "rmse" else loss,
        metrics=[PerImageRMSE()] if loss != "rmse" else None,
    )
    history = model.fit(
        x_train,
        x_train,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose,
        callbacks=callbacks,
    )
    return model, history


def check_devices(devices):
    """How many devices to train on: `None` or 1 (no distribution), an
    integer, or `"all"`; more than one only where Keras' distribution API
    runs (JAX), with a clear error elsewhere or beyond what is there.

    Returns:
        The list of devices to use, or `None` for plain training.
    """
    if devices is None or (checks.is_int(devices) and devices == 1):
        return None
    if not (devices == "all" or (checks.is_int(devices) and devices >= 1)):
        raise ValueError(f"`devices` must be a positive integer or 'all', got {devices!r}.")
    backend = keras.backend.backend()
    if backend != "jax":
        raise ValueError(
            f"`devices`={devices!r}: training on several devices uses Keras' distribution API "
            f"(keras.distribution.DataParallel), which runs on JAX only; this is {backend}. "
            "Start Python with KERAS_BACKEND=jax, or train on one device (devices=None)."
        )
    available = keras.distribution.list_devices()
    count = len(available) if devices == "all" else int(devices)
    if count > len(available):
        raise ValueError(
            f"`devices`={devices!r}, but JAX sees {len(available)} device(s) "
            f"({', '.join(map(str, available))}). On a CPU, set JAX_NUM_CPU_DEVICES before "
            "JAX starts to split it into virtual devices."
        )
    return None if count == 1 else available[:count]


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


def train_segmenter(
    build,
    scenes,
    masks,
    *,
    epochs=4,
    batch_size=16,
    learning_rate=1e-3,
    decay=False,
    class_weights=None,
    devices=None,
    jit_compile=None,
    verbose="auto",
    callbacks=None,
):
    """Build a segmentation model and train it with Adam on scenes and masks.

    With `devices` above one (JAX only), the model is built and trained under
    `keras.distribution.DataParallel`: its variables are copied to every
    device and each global batch of `batch_size` is split between them, so
    the losses match one device's for the same seed and batch (up to float
    rounding). That is why this helper takes a function that builds the
    model: its variables must be made inside the distribution's scope.

    Args:
        build: a function of no arguments returning a Keras model from
            `(batch, rows, cols, 1)` scenes to per-pixel class probabilities
            (any image size, such as `models.segmentation_model`), or such a
            model itself (one device only).
        scenes: `(n, rows, cols, 1)` float scenes.
        masks: `(n, rows, cols)` integer labels.
        epochs: passes over the scenes. Default 4.
        batch_size: scenes per step (the global batch). Default 16.
        learning_rate: Adam's step size. Default 1e-3.
        decay: whether the step size follows a cosine from `learning_rate`
            down to zero over the run, so a short run ends on settled weights
            rather than on the noise of its last large steps (lesson 10).
            Default `False`, a constant step (what `segment` measured).
        class_weights: `None` (default: every pixel counts the same) or one
            loss weight per class, such as `balanced_class_weights`'s; each
            pixel's loss is multiplied by its true class's weight.
        devices: `None` (default) or 1, a number of devices, or `"all"`. The
            batch must divide evenly among them.
        jit_compile: passed to `model.compile`. Default `None`: `True` on
            TensorFlow and JAX, `"auto"` on PyTorch. On a machine without a
            GPU, TensorFlow's `"auto"` runs plain graphs; XLA fuses the
            convolutions, batch normalisations and concatenations, and on
            the 2-core CPU trains U-Net about 2.5 times as fast (SegNet and
            its twin gain less). A first step at each new batch shape
            compiles for a few seconds.
        verbose: Keras' progress output.
        callbacks: extra Keras callbacks.

    Returns:
        `(model, history)`.

    Example:

    >>> model, history = train_segmenter(                    # doctest: +SKIP
    ...     lambda: models.segmentation_model("segnet"), scenes, masks, epochs=1)
    """
    epochs = checks.positive_int("epochs", epochs)
    batch_size = checks.positive_int("batch_size", batch_size)
    learning_rate = checks.positive_number("learning_rate", learning_rate)
    chosen = check_devices(devices)
    if jit_compile is None:
        jit_compile = True if keras.backend.backend() in ("tensorflow", "jax") else "auto"
    elif jit_compile not in (True, False, "auto"):
        raise ValueError(f"`jit_compile` must be None, True, False or 'auto', got {jit_compile!r}.")
    if chosen is not None and batch_size % len(chosen):
        raise ValueError(
            f"`batch_size`={batch_size} must divide evenly among the {len(chosen)} devices."
        )
    if isinstance(build, keras.Model):
        if chosen is not None:
            raise ValueError(
                "`build` must be a function that builds the model when `devices` is above one: "
                "its variables are made on every device, inside the distribution's scope."
            )
        model, build = build, None
    elif not callable(build):
        raise ValueError(f"`build` must be a function returning a model, got {build!r}.")
    scenes = checks.images("scenes", scenes)
    masks = np.asarray(masks)
    if masks.ndim != 3 or not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(
            f"`masks` must be integer labels (n, rows, cols), got {masks.dtype} {masks.shape}."
        )
    checks.same_shape("scenes", scenes.shape[:3], "masks", masks.shape)
    if len(scenes) == 0:
        raise ValueError("`scenes` holds no scenes.")
    if class_weights is not None:
        class_weights = np.asarray(class_weights, dtype=np.float64)
        if (
            class_weights.ndim != 1
            or not np.all(np.isfinite(class_weights))
            or np.any(class_weights < 0)
            or len(class_weights) <= masks.max()
        ):
            raise ValueError(
                "`class_weights` must hold one finite weight >= 0 per class, at least "
                f"{masks.max() + 1} for these masks, got {class_weights.tolist()!r}."
            )
    if chosen is not None and len(scenes) % batch_size:
        # A last, smaller batch would not split evenly among the devices.
        keep = len(scenes) - len(scenes) % batch_size
        if keep == 0:
            raise ValueError(f"`scenes` holds fewer than one batch ({batch_size}).")
        scenes, masks = scenes[:keep], masks[:keep]
    scope = (
        keras.distribution.DataParallel(devices=chosen).scope()
        if chosen is not None
        else contextlib.nullcontext()
    )
    # The caller seeds (`keras.utils.set_random_seed`) before calling: the
    # initial weights and the shuffling continue its stream.
    with scope:
        if build is not None:
            model = build()
        model.compile(
            optimizer=keras.optimizers.Adam(
                step_size(learning_rate, decay, len(scenes), batch_size, epochs)
            ),
            loss="sparse_categorical_crossentropy",
            jit_compile=jit_compile,
        )
        history = model.fit(
            scenes,
            masks,
            # Per pixel: the weight of the class it truly is.
            sample_weight=None if class_weights is None else class_weights[masks].astype("float32"),
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=verbose,
            callbacks=callbacks,
        )
    return model, history


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
