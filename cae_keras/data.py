"""Offline MNIST loading.

The repository ships the full MNIST database as ``data/mnist.npz`` (the layout of
the file ``keras.datasets.mnist.load_data()`` downloads), so nothing is fetched
at run time. A student on Colab without the repository still gets the data from
Keras' cache or, as a last resort, a Keras download.
"""

import math
import numbers
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from cae_keras import checks

#: Environment variable naming an MNIST ``.npz`` to use instead of the default.
ENV_VAR = "CAE_KERAS_MNIST"

#: The copy that ships with the repository (absent in a pip install from git).
REPO_FILE = Path(__file__).resolve().parent.parent / "data" / "mnist.npz"

_EXPECTED = {
    "x_train": ((60000, 28, 28), 255),
    "y_train": ((60000,), 9),
    "x_test": ((10000, 28, 28), 255),
    "y_test": ((10000,), 9),
}


class MnistFileError(ValueError):
    """An MNIST file is missing, unreadable or holds the wrong arrays."""


def keras_cache_file():
    """Where ``keras.datasets.mnist.load_data()`` keeps its download."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    return Path(os.path.expanduser(keras_home)) / "datasets" / "mnist.npz"


def find_mnist(path=None):
    """Return the MNIST file to use and the list of places looked at.

    The order is: ``path``, then the ``CAE_KERAS_MNIST`` environment variable,
    then the repository's ``data/mnist.npz``, then the Keras cache. A path
    given explicitly (argument or environment variable) must exist: it is
    never silently replaced by another file.

    Returns:
        ``(found, tried)``: the path of an existing file, or ``None``, and the
        paths tried, in order.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"`path`: no MNIST file at {str(path)!r}. Pass the path of an "
                "mnist.npz (the repository keeps one at data/mnist.npz), or "
                "path=None to search the default places."
            )
        return path, [path]
    env = os.environ.get(ENV_VAR)
    if env:
        env_path = Path(env)
        if not env_path.is_file():
            raise FileNotFoundError(
                f"The environment variable {ENV_VAR}={env!r} names no file. "
                "Point it at an mnist.npz or unset it."
            )
        return env_path, [env_path]
    tried = [REPO_FILE, keras_cache_file()]
    for candidate in tried:
        if candidate.is_file():
            return candidate, tried
    return None, tried


def read_mnist_file(path):
    """Read and check an MNIST ``.npz``: four uint8 arrays of the known shapes.

    Raises:
        MnistFileError: the file cannot be read as ``.npz`` or holds arrays
            with other keys, shapes, dtypes or value ranges.
    """
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise MnistFileError(
                f"{str(path)!r} holds a single array, not an .npz archive of the four MNIST arrays."
            )
        with loaded as npz:
            missing = sorted(set(_EXPECTED) - set(npz.files))
            if missing:
                raise MnistFileError(
                    f"{str(path)!r} is not an MNIST file: it lacks the arrays "
                    f"{missing} (it has {sorted(npz.files)})."
                )
            arrays = {key: npz[key] for key in _EXPECTED}
            odd = sorted(key for key, array in arrays.items() if not isinstance(array, np.ndarray))
            if odd:
                raise MnistFileError(
                    f"{str(path)!r} is not an MNIST file: its members {odd} are not .npy arrays."
                )
    except MnistFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise MnistFileError(
            f"{str(path)!r} is not a readable .npz file ({error}); it may be "
            "truncated or corrupt. Copy data/mnist.npz from a fresh clone."
        ) from error
    for key, (shape, top) in _EXPECTED.items():
        array = arrays[key]
        if array.shape != shape or array.dtype != np.uint8:
            raise MnistFileError(
                f"{str(path)!r}: array {key!r} should be uint8 with shape "
                f"{shape}, got {array.dtype} with shape {array.shape}."
            )
        if array.max() > top:
            raise MnistFileError(
                f"{str(path)!r}: array {key!r} should hold values 0..{top}, "
                f"found {int(array.max())}."
            )
    return arrays


def _keras_download():
    # Only reached with no local copy anywhere: a student on Colab.
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # no network, a proxy, a broken download
        raise MnistFileError(
            f"no local MNIST file, and downloading it failed ({type(error).__name__}: "
            f"{error}). Pass the path of an mnist.npz, or set CAE_KERAS_MNIST."
        ) from error
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _select(images, labels, digits, limit, scale):
    if digits is not None:
        keep = np.isin(labels, digits)
        images, labels = images[keep], labels[keep]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    images = (images.astype(np.float32) / np.float32(scale))[..., np.newaxis]
    return images, labels.astype(np.int64)


def load_mnist(path=None, *, digits=None, limit=None, scale=255.0, download=True):
    """Load MNIST as float32 images with a channel axis and integer labels.

    Args:
        path: an ``mnist.npz`` to read. Default ``None`` searches, in order,
            the ``CAE_KERAS_MNIST`` environment variable, the repository's
            ``data/mnist.npz`` and the Keras cache, and only then downloads
            with Keras.
        digits: keep only these digits (integers in 0..9). Default ``None``
            keeps all ten.
        limit: keep at most this many images per split (a positive integer):
            the first ones, in the file's order, after filtering by
            ``digits``. Default ``None`` keeps them all.
        scale: pixels are divided by this. Default ``255.0`` gives values in
            [0, 1]; CNTK's example divides by ``256.0``.
        download: whether the last resort, a Keras download, is allowed.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images of shape
        ``(n, 28, 28, 1)``, float32, and labels of shape ``(n,)``, int64.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load_mnist(digits=[1, 5, 6], limit=100)
    >>> x_train.shape, x_train.dtype.name, sorted(set(y_train.tolist()))
    ((100, 28, 28, 1), 'float32', [1, 5, 6])
    """
    digits = None if digits is None else checks.digits(digits)
    limit = checks.optional_limit("limit", limit)
    # Pixels are 0..255 divided by `scale` in float32: the largest must be a
    # finite number, and not all zero (an infinite scale).
    ok = not isinstance(scale, bool) and isinstance(scale, numbers.Real)
    ok = ok and math.isfinite(scale) and scale > 0
    if ok:
        with np.errstate(over="ignore", under="ignore"):
            top = np.float32(255) / np.float32(scale)
        ok = bool(np.isfinite(top) and top > 0)
    if not ok:
        raise ValueError(
            "`scale` must be a finite positive number that keeps 255 / scale a finite, "
            f"non-zero float32 (255.0 or 256.0, say), got {scale!r}."
        )
    found, tried = find_mnist(path)
    if found is not None:
        arrays = read_mnist_file(found)
    elif download:
        arrays = _keras_download()
    else:
        raise FileNotFoundError(
            "No MNIST file found and `download=False`. Tried: "
            + ", ".join(str(p) for p in tried)
            + f". Set {ENV_VAR} or pass `path`."
        )
    train = _select(arrays["x_train"], arrays["y_train"], digits, limit, scale)
    test = _select(arrays["x_test"], arrays["y_test"], digits, limit, scale)
    return train, test


def load_for_job(data, limit, **options):
    """MNIST for a job's `run(data=..., limit=...)`: `load_mnist(data,
    limit=limit, **options)`, where a missing or broken file is an
    `ArgumentError` naming `data`."""
    limit = checks.optional_limit("limit", limit)
    try:
        return load_mnist(data, limit=limit, **options)
    except (OSError, ValueError) as error:
        raise checks.ArgumentError("data", str(error)) from None


def is_share_or_count(size):
    """Whether `size` is a share in (0, 1) or a whole number of images (>= 1)."""
    if checks.is_int(size):
        return size >= 1
    real = isinstance(size, numbers.Real) and not isinstance(size, (bool, np.bool_))
    return real and 0.0 < size < 1.0


def split_validation(x, y, size=0.1, seed=0):
    """Carve a validation set out of training images, so the test set is
    used once, at the end, and never watched while training.

    Args:
        x, y: training images and labels, the same length.
        size: the validation set's share of `x` (a number in (0, 1)) or its
            number of images (an integer). Default 0.1.
        seed: which images go to validation (a random, seeded choice, so
            every digit is represented). Default 0.

    Returns:
        ``(x_train, y_train), (x_val, y_val)``: the two parts, each in the
        original order, with no image in both.

    Example:

    >>> x, y = np.zeros((50, 28, 28, 1), "float32"), np.arange(50) % 10
    >>> (x_train, _), (x_val, _) = split_validation(x, y, size=0.2)
    >>> len(x_train), len(x_val)
    (40, 10)
    """
    if len(x) != len(y):
        raise ValueError(f"`x` and `y` must be the same length, got {len(x)} and {len(y)}.")
    n = len(x)
    if is_share_or_count(size) and not checks.is_int(size):
        n_val = int(round(n * float(size)))
    elif is_share_or_count(size):
        n_val = int(size)
    else:
        raise ValueError(
            f"`size` must be a share in (0, 1) such as 0.1, or a number of images, got {size!r}."
        )
    if not 1 <= n_val < n:
        raise ValueError(
            f"`size`={size!r} leaves {n_val} validation and {n - n_val} training images "
            f"out of {n}: both parts need at least one."
        )
    seed = checks.seed(seed)
    chosen = np.zeros(n, bool)
    chosen[np.random.default_rng(seed).choice(n, n_val, replace=False)] = True
    return (x[~chosen], y[~chosen]), (x[chosen], y[chosen])


def add_noise(images, sigma=0.5, seed=0):
    """Gaussian noise of standard deviation `sigma` on every pixel, clipped
    back to 0-1: the corrupted input of a denoising autoencoder.

    Args:
        images: images with pixels in 0-1, such as `load_mnist`'s.
        sigma: the noise's standard deviation, in pixel units. Default 0.5.
        seed: seeds the noise, so the same call gives the same noisy images.

    Returns:
        A float32 array of the shape of `images`.

    Example:

    >>> noisy = add_noise(np.zeros((2, 28, 28, 1), "float32"), sigma=0.5)
    >>> noisy.shape, float(noisy.min()) >= 0.0, float(noisy.max()) <= 1.0
    ((2, 28, 28, 1), True, True)
    """
    sigma = checks.positive_number("sigma", sigma)
    seed = checks.seed(seed)
    images = np.asarray(images, np.float32)
    finite = bool(np.all(np.isfinite(images)))
    if images.size and not (finite and 0.0 <= images.min() and images.max() <= 1.0):
        raise ValueError(
            "`images` must have pixels in 0-1 (the noise is clipped to that range), got "
            f"values from {np.nanmin(images):g} to {np.nanmax(images):g}"
            + ("." if finite else " and NaN or infinities.")
            + " Scale 0-255 images by 1/255 first."
        )
    noise = np.random.default_rng(seed).normal(0.0, sigma, images.shape).astype(np.float32)
    return np.clip(images + noise, 0.0, 1.0)


def labelled_draw(labels, n, seed=0, validation=0.2, classes=10):
    """The labelled images a few-label user holds: `n` of them, every class
    present, split into training and validation within the draw.

    Each class gets `n // classes` images; the `n % classes` left over go to
    classes chosen at random, one each. Within each class a share
    `validation` (rounded, at least one image, at most all but one) goes to
    validation, so both parts hold every class. The test set is never part
    of the draw: choices made on validation stay honest.

    Args:
        labels: the labels of the pool to draw from, `(m,)` integers in
            `0..classes - 1` (the training labels).
        n: how many labelled images, at least `classes` (one per class), and
            with `validation` at least two per class.
        seed: which images are drawn. Default 0.
        validation: the share of each class's draw kept for validation, in
            [0, 1). Default 0.2; 0 keeps none.
        classes: how many classes. Default 10.

    Returns:
        `(train, val)`: two arrays of indices into `labels`, in random
        order, with no index in both.

    Example:

    >>> labels = np.arange(1000) % 10
    >>> train, val = labelled_draw(labels, 100, seed=0)
    >>> len(train), len(val), sorted(set(labels[val].tolist())) == list(range(10))
    (80, 20, True)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"`labels` must be a 1-D array of integers, got {labels.dtype} {labels.shape}."
        )
    classes = checks.positive_int("classes", classes, minimum=2)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"`labels` must be in 0..{classes - 1}, got {labels.min()}..{labels.max()}."
        )
    validation = checks.rate("validation", validation)
    least = classes if validation == 0 else 2 * classes
    n = checks.positive_int(
        "n",
        n,
        minimum=least,
        why=f" (every one of the {classes} classes, in training"
        + (" and in validation)" if validation else ")"),
    )
    seed = checks.seed(seed)
    rng = np.random.default_rng(seed)
    per_class = np.full(classes, n // classes)
    per_class[rng.choice(classes, n % classes, replace=False)] += 1
    train, val = [], []
    for c in range(classes):
        pool = np.flatnonzero(labels == c)
        if len(pool) < per_class[c]:
            raise ValueError(
                f"`n`={n} needs {per_class[c]} images of class {c}, but `labels` has {len(pool)}."
            )
        chosen = rng.choice(pool, per_class[c], replace=False)
        n_val = (
            0
            if validation == 0
            else min(max(1, round(per_class[c] * validation)), per_class[c] - 1)
        )
        val.append(chosen[:n_val])
        train.append(chosen[n_val:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(val))


#: Classes of a digit scene: 0 is the background, `d + 1` a pixel of digit `d`.
SCENE_CLASSES = 11
#: A digit's pixel counts as the digit where its intensity (0-1) is at least this.
SCENE_THRESHOLD = 0.5


def digit_scenes(images, labels, n, size=64, digits=(1, 3), seed=0):
    """Scenes of handwritten digits on a black canvas, with a label per pixel:
    the data of lesson 10 and `python -m cae_keras segment`.

    Each scene places `digits` MNIST digits (a number drawn in that range)
    at random positions, wholly inside the canvas; digits may overlap.

    The label rule: a pixel is **0 (background)** unless some digit placed
    there has intensity at least 0.5 (`SCENE_THRESHOLD`); then it is
    **`d + 1`** for the digit `d` whose pixel there is the brightest. The
    scene shows the brightest pixel too (the maximum over the digits), so
    the label names the digit the pixel shows. Where two digits are equally
    bright the one placed first wins. Give training scenes training images
    and test scenes test images: the function never mixes them itself.

    Vectorised over scenes (10,000 scenes of 64x64 take about a second) and
    deterministic for a seed.

    Args:
        images: `(m, 28, 28)` or `(m, 28, 28, 1)` digits with pixels in 0-1,
            such as `load_mnist`'s.
        labels: `(m,)` their digits, integers 0..9.
        n: how many scenes.
        size: the canvas, an integer or `(rows, cols)`, each at least 28.
            Default 64.
        digits: digits per scene, an integer or an inclusive range `(low,
            high)` with `1 <= low <= high`. Default `(1, 3)`.
        seed: which digits, how many and where. Default 0.

    Returns:
        `(scenes, masks)`: float32 `(n, rows, cols, 1)` and uint8 `(n, rows,
        cols)` with values in 0..10 (`SCENE_CLASSES` classes).

    Example:

    >>> x = np.zeros((2, 28, 28), "float32"); x[:, 10:18, 10:18] = 1.0
    >>> scenes, masks = digit_scenes(x, np.array([3, 7]), n=4, size=(40, 50), seed=0)
    >>> scenes.shape, masks.shape, sorted(set(np.unique(masks).tolist()) - {0}) <= [4, 8]
    ((4, 40, 50, 1), (4, 40, 50), True)
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) == 0:
        raise ValueError(
            f"`images` must be MNIST digits (m, 28, 28) or (m, 28, 28, 1), at least one, got "
            f"shape {images.shape}."
        )
    images = images.astype(np.float32, copy=False)
    if not (np.all(np.isfinite(images)) and images.min() >= 0.0 and images.max() <= 1.0):
        raise ValueError(
            "`images` must have pixels in 0-1 (the label rule compares with 0.5); scale 0-255 "
            "images by 1/255 first."
        )
    labels = np.asarray(labels)
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"`labels` must hold one integer digit per image ({len(images)}), got "
            f"{labels.dtype} of shape {labels.shape}."
        )
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"`labels` must be digits 0..9, got {labels.min()}..{labels.max()}.")
    n = checks.positive_int("n", n, minimum=0)
    rows, cols = checks.pair("size", size, 28)
    low, high = checks.count_range("digits", digits)
    rng = np.random.default_rng(checks.seed(seed))
    count = rng.integers(low, high + 1, n)
    chosen = rng.integers(0, len(images), (n, high))
    top = rng.integers(0, rows - 27, (n, high))
    left = rng.integers(0, cols - 27, (n, high))
    brightest = np.zeros((n, rows, cols), np.float32)
    owner = np.zeros((n, rows, cols), np.uint8)
    offsets = np.arange(28)
    for slot in range(high):
        # Every scene with a digit in this slot at once: one fancy-indexed
        # 28x28 window per scene, compared with what the earlier slots left.
        scene = np.nonzero(count > slot)[0]
        r = (top[scene, slot][:, None] + offsets)[:, :, None]
        c = (left[scene, slot][:, None] + offsets)[:, None, :]
        s = scene[:, None, None]
        patch = images[chosen[scene, slot]]
        here = brightest[s, r, c]
        wins = patch > here  # strictly: an equal pixel stays with the earlier digit
        brightest[s, r, c] = np.where(wins, patch, here)
        digit = (labels[chosen[scene, slot]] + 1).astype(np.uint8)[:, None, None]
        owner[s, r, c] = np.where(wins, digit, owner[s, r, c])
    masks = np.where(brightest >= SCENE_THRESHOLD, owner, 0).astype(np.uint8)
    return brightest[..., None], masks
