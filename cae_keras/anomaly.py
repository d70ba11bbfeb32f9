"""Anomaly detection by reconstruction error (lesson 08).

Train an autoencoder on every digit but one; the held-out digit plays the
anomaly. Each test image is scored by how badly the model reconstructs it, a
threshold is chosen on validation images of the *normal* digits alone, and the
ROC curve says how well the score separates the two groups at every threshold.

`roc_curve` and `roc_auc` are written out in NumPy so the construction can be
read; the tests check them against `keras.metrics.AUC`.
"""

import time

import keras
import numpy as np

from cae_keras import checks, data, models
from cae_keras.metrics import mse_per_image
from cae_keras.training import say, train_autoencoder


def reconstruction_errors(model, images, batch_size=1000):
    """Each image's mean squared reconstruction error, shape `(n,)` (float64);
    empty for no images."""
    images = checks.images("images", images)
    batch_size = checks.positive_int("batch_size", batch_size)
    if len(images) == 0:
        return np.zeros((0,), np.float64)
    return mse_per_image(images, model.predict(images, batch_size=batch_size, verbose=0))


def _scores_and_labels(scores, is_anomaly):
    scores = np.asarray(scores, np.float64).reshape(-1)
    labels = np.asarray(is_anomaly).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(
            f"`scores` ({scores.size}) and `is_anomaly` ({labels.size}) must be the same length."
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("`scores` must be finite numbers.")
    if labels.dtype != bool and not np.isin(labels, (0, 1)).all():
        raise ValueError("`is_anomaly` must hold booleans (or 0 and 1).")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("`is_anomaly` must hold both anomalies and normal images.")
    return scores, labels


def roc_curve(scores, is_anomaly):
    """The ROC curve of a score where higher means "more anomalous".

    Sweep the threshold down from above the highest score: each image whose
    score reaches it is flagged. The true positive rate is the share of
    anomalies flagged, the false positive rate the share of normal images
    flagged. Equal scores are flagged together, so a tie is one diagonal step.

    Args:
        scores: `(n,)` scores, such as reconstruction errors.
        is_anomaly: `(n,)` booleans, `True` for the anomalies.

    Returns:
        `(fpr, tpr, thresholds)`: arrays from `(0, 0)` to `(1, 1)`; point `i`
        flags every image with a score of at least `thresholds[i]`.

    Example:

    >>> fpr, tpr, _ = roc_curve([0.9, 0.8, 0.3, 0.1], [True, False, True, False])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    scores, labels = _scores_and_labels(scores, is_anomaly)
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    # The last image of each run of equal scores: where the curve takes a step.
    ends = np.r_[np.nonzero(np.diff(scores))[0], scores.size - 1]
    tp = np.cumsum(labels)[ends]
    fp = np.cumsum(~labels)[ends]
    tpr = np.r_[0.0, tp / labels.sum()]
    fpr = np.r_[0.0, fp / (~labels).sum()]
    return fpr, tpr, np.r_[np.inf, scores[ends]]


def roc_auc(scores, is_anomaly):
    """Area under `roc_curve` (trapezoids): the chance that a random anomaly
    scores higher than a random normal image, ties counting one half. 0.5 is
    a coin; below 0.5 the score points the wrong way.

    Example:

    >>> roc_auc([0.9, 0.8, 0.3, 0.1], [True, False, True, False])
    0.75
    """
    fpr, tpr, _ = roc_curve(scores, is_anomaly)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def threshold_for(normal_scores, false_alarm_rate=0.05):
    """The score above which a share `false_alarm_rate` of normal images lies.

    Chosen on validation images of the normal digits only: no anomaly is
    needed (or seen) to set it.
    """
    normal_scores = np.asarray(normal_scores, np.float64)
    if normal_scores.size == 0:
        raise ValueError("`normal_scores` holds no scores.")
    if not np.all(np.isfinite(normal_scores)):
        raise ValueError(
            "`normal_scores` must be finite numbers: a NaN threshold would flag nothing, "
            f"got {int(np.sum(~np.isfinite(normal_scores)))} NaN or infinite."
        )
    rate = checks.rate("false_alarm_rate", false_alarm_rate)
    if rate == 0.0:
        return float(normal_scores.max())
    return float(np.quantile(normal_scores, 1.0 - rate))


def held_out_split(held_out, limit=None, validation=0.1, seed=0, path=None):
    """MNIST arranged for one held-out digit.

    Returns:
        A dict with `x_train` (the other nine digits), `x_val` (validation
        images carved from them, for the threshold), `x_test`, `y_test` and
        `is_anomaly` (the whole test set; the held-out digit is the anomaly).
    """
    held_out = checks.digit("held_out", held_out)
    limit = checks.optional_limit("limit", limit)
    seed = checks.seed(seed)
    if not data.is_share_or_count(validation):
        raise ValueError(
            "`validation` must be a share in (0, 1) such as 0.1, or a number of images, "
            f"got {validation!r}."
        )
    normal = [d for d in range(10) if d != held_out]
    (x_normal, y_normal), _ = data.load_mnist(path, digits=normal, limit=limit)
    _, (x_test, y_test) = data.load_mnist(path, limit=limit)
    try:
        (x_train, _), (x_val, _) = data.split_validation(x_normal, y_normal, validation, seed)
    except ValueError as error:
        raise ValueError(
            f"`limit`={limit} leaves {len(x_normal)} training images of the normal digits, "
            f"too few to carve `validation`={validation!r} from: " + str(error).split(": ", 1)[-1]
        ) from None
    if not (y_test == held_out).any() or (y_test == held_out).all():
        raise ValueError(
            f"`limit`={limit} leaves {len(y_test)} test images with "
            f"{int((y_test == held_out).sum())} of digit {held_out}: scoring needs both "
            "the held-out digit and the others (raise `limit`)."
        )
    return {
        "x_train": x_train,
        "x_val": x_val,
        "x_test": x_test,
        "y_test": y_test,
        "is_anomaly": y_test == held_out,
    }


def anomaly_autoencoder(latent_dim=16):
    """The model lesson 08 scores with: lesson 06's encoder and decoder with a
    `latent_dim`-number code. A narrow code cannot copy an image through; it
    has to draw it from what it learned. Returns `(encoder, decoder, model)`."""
    return models.latent_autoencoder(latent_dim)


def run_held_out(held_out, *, epochs=3, limit=None, latent_dim=16, seed=0, false_alarm_rate=0.05):
    """Train on every digit but `held_out` and score the test set.

    Returns:
        A record: `held_out`, `auc`, `threshold`, `detected` (the share of
        held-out test images above the threshold), `false_alarms` (the share of
        normal test images above it), `seconds`, and the `model` and `scores`
        for pictures (not for JSON).
    """
    # Everything is checked before training.
    epochs = checks.positive_int("epochs", epochs)
    latent_dim = checks.positive_int("latent_dim", latent_dim)
    false_alarm_rate = checks.rate("false_alarm_rate", false_alarm_rate)
    split = held_out_split(held_out, limit=limit, seed=seed)
    # The split uses `seed` through its own generator; the caller seeds the
    # global stream (`keras.utils.set_random_seed`) for the weights and shuffling.
    _, _, model = anomaly_autoencoder(latent_dim)
    start = time.perf_counter()
    train_autoencoder(model, split["x_train"], epochs=epochs, batch_size=128, loss="mse", verbose=0)
    seconds = time.perf_counter() - start
    threshold = threshold_for(reconstruction_errors(model, split["x_val"]), false_alarm_rate)
    scores = reconstruction_errors(model, split["x_test"])
    flagged = scores > threshold
    anomaly = split["is_anomaly"]
    return {
        "held_out": held_out,
        "auc": roc_auc(scores, anomaly),
        "threshold": threshold,
        "detected": float(flagged[anomaly].mean()),
        "false_alarms": float(flagged[~anomaly].mean()),
        "seconds": round(seconds, 1),
        "model": model,
        "scores": scores,
    }


def format_auc_table(records):
    """One line per held-out digit: AUC, detection and false-alarm rates."""
    lines = [
        f"{'held out':>8}  {'AUC':>6}  {'detected':>8}  {'false alarms':>12}",
        "-" * 40,
    ]
    for r in records:
        auc, detected, false_alarms = r["auc"], r["detected"], r["false_alarms"]
        lines.append(f"{r['held_out']:>8}  {auc:>6.3f}  {detected:>8.1%}  {false_alarms:>12.1%}")
    return "\n".join(lines)


def check_digits(digits):
    """The digits to hold out, sorted, each once: a non-empty list of 0..9."""
    if checks.is_int(digits):
        digits = [digits]
    if isinstance(digits, str) or not hasattr(digits, "__iter__"):
        raise ValueError(f"`digits` must be a list of digits 0..9, got {digits!r}.")
    digits = list(digits)
    checked = [checks.digit("digits", d) for d in digits]
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"`digits` must name each digit once (at least one), got {digits!r}.")
    return sorted(checked)


def check_job(digits, *, epochs, limit, latent_dim, seed):
    """`run_job`'s settings checked, and each held-out digit's data with them,
    before any training: the digits (sorted), or a `ValueError` whose message
    starts with the argument's name in backticks."""
    digits = check_digits(digits)
    checks.positive_int("epochs", epochs)
    checks.positive_int("latent_dim", latent_dim)
    checks.seed(seed)
    for digit in digits:
        held_out_split(digit, limit=limit, seed=seed)
    return digits


def run_job(
    digits=tuple(range(10)),
    *,
    epochs=3,
    limit=None,
    latent_dim=16,
    seed=0,
    json_path=None,
    log=None,
):
    """The `python -m cae_keras anomaly` job: one `run_held_out` per digit.

    Args:
        digits: the digits to hold out, one run each (sorted, each once).
        epochs, limit, latent_dim, seed: as `run_held_out`.
        json_path: also write the settings and the records there (whole or
            not at all, `publish.write_file`). Default `None`.
        log: called with each progress line. Default: print it, flushed.

    Returns:
        The records (without models and scores), in digit order.
    """

    from cae_keras.publish import check_output_file, dumps, write_file

    log = log or say
    if json_path is not None:
        check_output_file(json_path)
    digits = check_job(digits, epochs=epochs, limit=limit, latent_dim=latent_dim, seed=seed)
    log(
        f"Holding out {digits}, one run each: {epochs} epoch(s), "
        f"{latent_dim}-number code, seed {seed}."
    )
    records = []
    for digit in digits:
        # A program seeds each run at its start, so each row can be repeated alone.
        keras.utils.set_random_seed(seed)
        record = run_held_out(digit, epochs=epochs, limit=limit, latent_dim=latent_dim, seed=seed)
        for key in ("model", "scores"):
            record.pop(key)
        log(f"  held out {digit}: AUC {record['auc']:.3f} ({record['seconds']:.1f} s)")
        records.append(record)
    if json_path is not None:
        settings = {"epochs": epochs, "limit": limit, "latent_dim": latent_dim, "seed": seed}
        payload = {"settings": settings, "runs": records}
        write_file(json_path, lambda f: f.write(dumps(payload)))
    return records
