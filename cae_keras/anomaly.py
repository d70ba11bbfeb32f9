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

from cae_keras import checks, models, tables
from cae_keras.data import is_share_or_count, load_for_job, split_validation
from cae_keras.metrics import mse_per_image
from cae_keras.training import say, step_size


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


def held_out_split(held_out, mnist, validation=0.1, seed=0):
    """MNIST arranged for one held-out digit.

    Args:
        held_out: the digit that plays the anomaly.
        mnist: `data.load_mnist()`'s `((x_train, y_train), (x_test, y_test))`.
        validation: the share (or number) of the normal training images kept
            for the threshold. Default 0.1.
        seed: seeds which images those are (its own generator). Default 0.

    Returns:
        A dict with `x_train` (the other nine digits), `x_val` (validation
        images carved from them, for the threshold), `x_test`, `y_test` and
        `is_anomaly` (the whole test set; the held-out digit is the anomaly).
    """
    held_out = checks.digit("held_out", held_out)
    if not is_share_or_count(validation):
        raise checks.ArgumentError(
            "validation",
            "`validation` must be a share in (0, 1) such as 0.1, or a number of images, "
            f"got {validation!r}.",
        )
    (x_all, y_all), (x_test, y_test) = mnist
    normal = y_all != held_out
    try:
        (x_train, _), (x_val, _) = split_validation(x_all[normal], y_all[normal], validation, seed)
    except ValueError as error:
        raise checks.ArgumentError(
            "limit",
            f"`limit` leaves {int(normal.sum())} training images of the normal digits, too "
            f"few to carve `validation`={validation!r} from: " + str(error).split(": ", 1)[-1],
        ) from None
    is_anomaly = y_test == held_out
    if not is_anomaly.any() or is_anomaly.all():
        raise checks.ArgumentError(
            "limit",
            f"`limit` leaves {len(y_test)} test images with {int(is_anomaly.sum())} of digit "
            f"{held_out}: scoring needs both the held-out digit and the others (raise `limit`).",
        )
    return {
        "x_train": x_train,
        "x_val": x_val,
        "x_test": x_test,
        "y_test": y_test,
        "is_anomaly": is_anomaly,
    }


def _run_held_out(split, *, epochs=3, latent_dim=16, false_alarm_rate=0.05, verbose=0):
    """One run of `run`: train on one `held_out_split`'s normal digits and
    score its test set. The caller checked the settings and seeded.

    Returns:
        `(record, model)`: the record holds `auc`, `threshold`, `detected`
        (the share of held-out test images above the threshold),
        `false_alarms` (the share of normal test images above it) and
        `seconds`.
    """
    model = models.latent_autoencoder(latent_dim)  # lesson 06's, with a wider code
    x, batch_size = split["x_train"], 128
    start = time.perf_counter()
    # Adam's step follows a cosine from 3e-3 to zero: small steps at the end
    # settle the weights.
    schedule = step_size(3e-3, True, len(x), batch_size, epochs)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    model.fit(x, x, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    seconds = time.perf_counter() - start
    threshold = threshold_for(reconstruction_errors(model, split["x_val"]), false_alarm_rate)
    flagged = reconstruction_errors(model, split["x_test"]) > threshold
    anomaly = split["is_anomaly"]
    record = {
        "auc": roc_auc(reconstruction_errors(model, split["x_test"]), anomaly),
        "threshold": threshold,
        "detected": float(flagged[anomaly].mean()),
        "false_alarms": float(flagged[~anomaly].mean()),
        "seconds": round(seconds, 1),
    }
    return record, model


def format_auc_table(records):
    """One line per held-out digit (and seed, where there are several): AUC,
    detection and false-alarm rates."""
    several = len({r["seed"] for r in records}) > 1
    header = ["held out", *(["seed"] if several else []), "AUC", "detected", "false alarms"]
    lines = [
        [r["held_out"], *([r["seed"]] if several else []), f"{r['auc']:.3f}"]
        + [f"{r['detected']:.1%}", f"{r['false_alarms']:.1%}"]
        for r in records
    ]
    return tables.format_table(header, lines, align=">" * len(header))


def run(
    data=None,
    out="outputs/anomaly",
    *,
    seeds=(0,),
    epochs=3,
    limit=None,
    log=None,
    digits=tuple(range(10)),
    latent_dim=16,
    false_alarm_rate=0.05,
):
    """The `python -m cae_keras anomaly` job: each digit held out in turn.

    For every digit and seed: train lesson 08's detector on the other nine
    digits, set the threshold on their validation images, and score the test
    set. Publishes into a new run folder in `out` (see `cae_keras.publish`):
    `results.json` (settings and every record) and `table.txt`.

    Args:
        data: an `mnist.npz`. Default `None`: `data.load_mnist`'s search.
        out: the output folder. Default `"outputs/anomaly"`.
        seeds: seeds, each once; each run is seeded at its start. Default `(0,)`.
        epochs: epochs per run. Default 3.
        limit: at most this many images per split. Default `None`: all.
        log: called with each progress line. Default: print it, flushed.
        digits: the digits to hold out, each once. Default: 0 to 9.
        latent_dim: numbers in the detector's code. Default 16.
        false_alarm_rate: the share of normal validation images above the
            threshold. Default 0.05.

    Returns:
        The manifest written to `results.json` (`runs` holds the records),
        with `folder`, `files` and `table` added.

    Raises:
        checks.ArgumentError: a bad argument (named), before any training.
    """
    from cae_keras import publish

    log = log or say
    digits = sorted(checks.each_once("digits", digits, lambda d: checks.digit("digits", d)))
    seeds = checks.seeds(seeds)
    epochs = checks.positive_int("epochs", epochs)
    latent_dim = checks.positive_int("latent_dim", latent_dim)
    false_alarm_rate = checks.rate("false_alarm_rate", false_alarm_rate)
    out = publish.check_output_folder(out)
    mnist = load_for_job(data, limit)
    for digit in digits:  # every split checked before any training
        for seed in seeds:
            held_out_split(digit, mnist, seed=seed)
    log(
        f"Holding out {digits}, one run each per seed {seeds}: {epochs} epoch(s), "
        f"{latent_dim}-number code."
    )
    with publish.publishing(out) as run:
        records, start = [], time.perf_counter()
        for digit in digits:
            for seed in seeds:
                split = held_out_split(digit, mnist, seed=seed)
                # A program seeds each run at its start, so each row can be repeated alone.
                keras.utils.set_random_seed(seed)
                record, _ = _run_held_out(
                    split, epochs=epochs, latent_dim=latent_dim, false_alarm_rate=false_alarm_rate
                )
                records.append({"held_out": digit, "seed": seed, **record})
                auc, seconds = record["auc"], record["seconds"]
                log(f"  held out {digit}, seed {seed}: AUC {auc:.3f} ({seconds:.1f} s)")
        table = format_auc_table(records)
        (run.scratch / "table.txt").write_text(table + "\n")
        manifest = {
            "settings": {
                "digits": digits,
                "seeds": seeds,
                "epochs": epochs,
                "limit": limit,
                "latent_dim": latent_dim,
                "false_alarm_rate": false_alarm_rate,
            },
            "total_seconds": round(time.perf_counter() - start, 1),
            "runs": records,
        }
        run.publish(manifest)
    return {**manifest, "folder": run.folder, "files": run.files, "table": table}
