"""Reconstruction measures: CNTK's per-image RMSE, and PSNR.

CNTK's 07_Deconvolution example scales pixels by 1/256 and reports, for a set
of images, ``mean_n sqrt(mean_pixels (x_n - y_n)^2)``: the root mean squared
error of every image, averaged over images. That is not the RMSE of the whole
set (``sqrt`` of the mean over everything), which is larger; the functions
here follow CNTK so our numbers sit beside its published ones.
"""

import math

import keras
import numpy as np
from keras import ops

from cae_keras import checks


def _check_pair(name_a, a, name_b, b):
    checks.same_shape(name_a, a.shape, name_b, b.shape)
    if len(a.shape) < 2:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must be batches of images (batch, ...), "
            f"got shape {tuple(a.shape)}."
        )


@keras.saving.register_keras_serializable(package="cae_keras")
def per_image_rmse(y_true, y_pred):
    """Root mean squared error of each image, shape `(batch,)`.

    Used as a Keras loss, it is averaged over the batch: CNTK's criterion.

    Args:
        y_true: images `(batch, ...)`.
        y_pred: reconstructions of the same shape.

    Returns:
        A `(batch,)` tensor, the RMSE over all axes but the first.

    Raises:
        ValueError: the two shapes differ (never broadcast).

    The gradient is finite everywhere: at an image reconstructed exactly
    (a dead all-black model reconstructs a black image exactly) the square
    root's slope is infinite and the error's is zero, and their product
    would be NaN; there the gradient is 0, the value is exactly 0.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    _check_pair("y_true", y_true, "y_pred", y_pred)
    axes = tuple(range(1, len(y_pred.shape)))
    mse = ops.mean(ops.square(y_true - y_pred), axis=axes)
    # Both `where`s: the outer one picks 0 at zero error, the inner one keeps
    # the square root's own gradient there finite (a NaN in the branch not
    # taken would still reach the gradient).
    positive = ops.greater(mse, 0)
    return ops.where(positive, ops.sqrt(ops.where(positive, mse, ops.ones_like(mse))), 0)


@keras.saving.register_keras_serializable(package="cae_keras")
class PerImageRMSE(keras.metrics.MeanMetricWrapper):
    """Mean over images of the per-image RMSE, as CNTK reports it.

    Args:
        name: metric name. Default `"rmse"`.
        dtype: metric dtype. Default `None`.

    Example:

    >>> images = np.zeros((2, 2, 2, 1))
    >>> reconstructions = np.stack([np.full((2, 2, 1), 1.0), np.full((2, 2, 1), 3.0)])
    >>> m = PerImageRMSE()
    >>> m.update_state(images, reconstructions)  # per-image RMSE 1 and 3
    >>> float(m.result())
    2.0
    """

    def __init__(self, name="rmse", dtype=None):
        super().__init__(fn=per_image_rmse, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="cae_keras")
def summed_binary_crossentropy(y_true, y_pred):
    """Binary cross-entropy summed over each image's pixels, shape `(batch,)`.

    A VAE's reconstruction term: the negative log-likelihood of the image
    under independent Bernoulli pixels. Summed, not averaged, over the 784
    pixels, so it weighs against the KL term in the same unit (nats per image).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    _check_pair("y_true", y_true, "y_pred", y_pred)
    axes = tuple(range(1, len(y_pred.shape)))
    return ops.sum(ops.binary_crossentropy(y_true, y_pred), axis=axes)


def mse_per_image(images, others, other_name="reconstructions"):
    """Mean squared difference of each image from its counterpart, in NumPy
    (float64), shape `(n,)`: the measure under the RMSE, the PSNR and lesson
    08's anomaly score.

    Args:
        images: `(n, ...)` images.
        others: their reconstructions (or references), the same shape.
        other_name: what `others` are, for the error.
    """
    images = np.asarray(images, np.float64)
    others = np.asarray(others, np.float64)
    if images.shape != others.shape:
        raise ValueError(
            f"`images` {images.shape} and `{other_name}` {others.shape} must have the same shape."
        )
    if images.ndim < 2 or math.prod(images.shape[1:]) == 0:
        raise ValueError(
            f"`images` must be a batch of images with pixels (n, rows, ...), got shape "
            f"{images.shape}."
        )
    return np.mean((images - others) ** 2, axis=tuple(range(1, images.ndim)))


def evaluate_rmse(model, images, batch_size=1000):
    """CNTK's RMSE of `model` reconstructing `images`: a Python float.

    Raises:
        ValueError: `images` holds no image (a mean over none means
            nothing), or `batch_size` is not a positive integer.
    """
    images = checks.images("images", images)
    if len(images) == 0:
        raise ValueError("`images` holds no images: there is no mean RMSE over none.")
    batch_size = checks.positive_int("batch_size", batch_size)
    reconstructions = model.predict(images, batch_size=batch_size, verbose=0)
    return float(np.mean(np.sqrt(mse_per_image(images, reconstructions))))


def psnr_per_image(images, references, max_value=1.0):
    """Peak signal-to-noise ratio of each image against its reference, in dB.

    `10 log10(max_value^2 / MSE)` per image, in NumPy (float64): the higher,
    the closer. A noisy digit at `sigma=0.5` scores about 9 dB against the
    clean one. A perfect copy has an infinite PSNR; it is capped at 100 dB so
    averages stay finite.

    Args:
        images: `(n, ...)` images, such as noisy or denoised digits.
        references: the clean images, the same shape.
        max_value: the largest possible pixel value. Default 1.0.

    Returns:
        An `(n,)` array of PSNR values in dB.

    Example:

    >>> clean = np.zeros((1, 2, 2))
    >>> float(psnr_per_image(clean + 0.1, clean)[0])  # MSE 0.01: 20 dB
    20.0
    """
    max_value = checks.positive_number("max_value", max_value)
    mse = mse_per_image(images, references, other_name="references")
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(max_value**2 / mse)
    return np.minimum(values, 100.0)


def _label_maps(name, masks, classes):
    masks = np.asarray(masks)
    if masks.ndim == 4 and masks.shape[3] == 1:
        masks = masks[..., 0]
    if masks.ndim != 3 or not (np.issubdtype(masks.dtype, np.integer)):
        raise ValueError(
            f"`{name}` must be integer label maps (n, rows, cols), got {masks.dtype} "
            f"of shape {masks.shape}."
        )
    if masks.size and (masks.min() < 0 or masks.max() >= classes):
        raise ValueError(
            f"`{name}` must hold classes 0..{classes - 1}, got {masks.min()}..{masks.max()}."
        )
    return masks


def confusion_matrix(true, predicted, classes=11, where=None):
    """Pixel counts `[t, p]`: pixels of true class `t` predicted as `p`.

    Args:
        true, predicted: `(n, rows, cols)` integer label maps, the same shape.
        classes: how many classes. Default 11 (lesson 10's scenes).
        where: optional `(n, rows, cols)` booleans: count only those pixels.
    """
    classes = checks.positive_int("classes", classes, minimum=2)
    true = _label_maps("true", true, classes)
    predicted = _label_maps("predicted", predicted, classes)
    checks.same_shape("true", true.shape, "predicted", predicted.shape)
    if where is not None:
        where = np.asarray(where, bool)
        checks.same_shape("where", where.shape, "true", true.shape)
        true, predicted = true[where], predicted[where]
    index = true.astype(np.int64).ravel() * classes + predicted.astype(np.int64).ravel()
    return np.bincount(index, minlength=classes * classes).reshape(classes, classes)


def segmentation_scores(true, predicted, classes=11, where=None):
    """Intersection over union per class, their mean, and pixel accuracy.

    A class's IoU is `|true & predicted| / |true | predicted|` over its
    pixels. Classes absent from both the truth and the prediction have no
    IoU (`None`) and are left out of the mean, so a test set without a digit
    neither helps nor hurts.

    Args:
        true, predicted: `(n, rows, cols)` integer label maps.
        classes: how many classes. Default 11.
        where: optional mask of the pixels to score (see `boundary_band`).

    Returns:
        A dict: `miou`, `pixel_accuracy` (floats; `None` when no pixel is
        scored), `iou` (a list, one float or `None` per class).

    Example:

    >>> t = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
    >>> s = segmentation_scores(t, p, classes=3)
    >>> s["iou"], round(s["miou"], 4), s["pixel_accuracy"]
    ([0.5, 0.6666666666666666, None], 0.5833, 0.75)
    """
    matrix = confusion_matrix(true, predicted, classes, where)
    hits = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - hits
    iou = [float(h / u) if u else None for h, u in zip(hits, union)]
    present = [v for v in iou if v is not None]
    total = int(matrix.sum())
    return {
        "miou": float(np.mean(present)) if present else None,
        "pixel_accuracy": float(hits.sum() / total) if total else None,
        "iou": iou,
    }


def boundary_band(masks, width=2):
    """The pixels within `width` pixels (in rows and columns) of a true edge:
    where positions matter most, and where an upsampling decoder blurs.

    An edge pixel has a 4-neighbour of another class; the band grows it by
    `width` in every direction (a (2 width + 1)-square around each).

    Args:
        masks: `(n, rows, cols)` integer label maps.
        width: the band's half-width in pixels, at least 0. Default 2.

    Returns:
        `(n, rows, cols)` booleans.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"`masks` must be label maps (n, rows, cols), got {masks.shape}.")
    width = checks.positive_int("width", width, minimum=0)
    edge = np.zeros(masks.shape, bool)
    down = masks[:, 1:, :] != masks[:, :-1, :]
    right = masks[:, :, 1:] != masks[:, :, :-1]
    edge[:, 1:, :] |= down
    edge[:, :-1, :] |= down
    edge[:, :, 1:] |= right
    edge[:, :, :-1] |= right
    if width == 0:
        return edge
    # Grown by `width` each way: a (2 width + 1)-square around each edge
    # pixel, within its own map (the structure spans one map, not the batch).
    from scipy import ndimage

    square = np.ones((1, 2 * width + 1, 2 * width + 1), bool)
    return ndimage.binary_dilation(edge, structure=square)
