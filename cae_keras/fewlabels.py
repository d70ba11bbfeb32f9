"""What a code is worth: pretraining an encoder when few images have labels
(lesson 11, `python -m cae_keras fewlabels`).

An autoencoder learns from images without labels. Its encoder can then start
a classifier that has only a handful of labelled images. Three arms, with the
same architecture (`models.small_encoder` and a softmax layer) and the same
budget, compared at several numbers of labels:

- `scratch`: the classifier from random weights;
- `frozen`: the pretrained encoder kept fixed, only the softmax layer learns
  (a linear probe: how linearly the code separates the digits);
- `fine-tuned`: the pretrained encoder as the starting point, every weight
  learns.

Pretraining objectives (`OBJECTIVES`): `plain` reconstructs the image,
`denoising` reconstructs it from a noisy copy (`data.add_noise`). Every arm
gets the same number of optimizer steps on the labelled draw, and keeps the
weights that scored best on the draw's own validation part; the test set is
used once, at the end.
"""

import time

import keras
import numpy as np
import scipy.linalg

from cae_keras import checks, data, models, tables
from cae_keras.data import labelled_draw, load_for_job
from cae_keras.training import say

OBJECTIVES = ("plain", "denoising")
ARMS = ("scratch", "frozen", "fine-tuned")


def _pretrain(
    x,
    objective="plain",
    *,
    latent_dim=64,
    epochs=2,
    batch_size=128,
    learning_rate=1e-3,
    sigma=0.5,
    seed=0,
):
    """Train `models.small_autoencoder` on images without their labels.

    A step of `run`, which checked every setting first.

    Args:
        x: images in 0-1, `(n, 28, 28, 1)`.
        objective: `"plain"` (reconstruct `x`) or `"denoising"` (reconstruct
            `x` from `data.add_noise(x, sigma)`, new noise every epoch).
        latent_dim: numbers in the code. Default 64.
        epochs: passes over `x`. Default 2.
        batch_size: images per step. Default 128.
        learning_rate: Adam's step size. Default 1e-3.
        sigma: the noise of the denoising objective. Default 0.5.
        seed: seeds the noise of the denoising objective (its own generator,
            new noise every epoch). Default 0. The caller seeds the weights
            and the shuffling (`keras.utils.set_random_seed`).

    Returns:
        `(autoencoder, history)`, as `_train_classifier` returns: the trained
        autoencoder (its encoder is `get_layer("encoder")`) and the run's
        `keras.callbacks.History`; binary cross-entropy is the loss, Adam the
        optimizer.
    """
    autoencoder = models.small_autoencoder(latent_dim)
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    # One `fit` per epoch, each on new noise; one History gathers them all.
    history = keras.callbacks.History()
    for epoch in range(epochs):
        inputs = (
            data.add_noise(x, sigma, seed=seed * 1000 + epoch) if objective == "denoising" else x
        )
        autoencoder.fit(
            inputs, x, batch_size=batch_size, epochs=1, verbose=0, shuffle=True, callbacks=[history]
        )
    return autoencoder, history


def _images(name, x):
    x = np.asarray(x, np.float32)
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1) or len(x) == 0:
        raise ValueError(f"`{name}` must be a non-empty (n, 28, 28, 1) array, got shape {x.shape}.")
    return x


def _train_classifier(
    arm,
    x,
    y,
    x_val,
    y_val,
    *,
    encoder=None,
    latent_dim=64,
    steps=1000,
    evaluations=10,
    batch_size=32,
    learning_rate=1e-3,
    seed=0,
):
    """Train one arm's classifier on a labelled draw, within a fixed budget.

    A step of `run`, which checked every setting first.

    The budget is `steps` Adam steps of `batch_size` images, in
    `evaluations` stretches; after each, the classifier is scored on
    `(x_val, y_val)` and the best stretch's weights are kept (the first
    best, on ties). Every arm gets the same budget and the same rule.

    Args:
        arm: `"scratch"`, `"frozen"` or `"fine-tuned"`.
        x, y: the labelled training images and their labels.
        x_val, y_val: the draw's validation images and labels.
        encoder: the pretrained encoder, for `frozen` and `fine-tuned`.
        latent_dim: the code size of a `scratch` encoder. Default 64.
        steps: optimizer steps. Default 1000.
        evaluations: how many times validation is scored. Default 10.
        batch_size: images per step. Default 32.
        learning_rate: Adam's step size. Default 1e-3.
        seed: seeds the order of the images (its own generator). Default 0.
            The caller seeds the head's (and a `scratch` encoder's) weights
            (`keras.utils.set_random_seed`).

    Returns:
        `(model, history)`: the classifier with its best weights, and the
        run's history (`max(history.history["val_accuracy"])` is theirs).
    """
    if arm == "scratch":
        encoder = models.small_encoder(latent_dim)
    model = models.classifier_on(encoder, trainable=arm != "frozen", name=arm.replace("-", "_"))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # One stretch is `steps / evaluations` batches drawn from the labelled
    # images in shuffled passes, so a small draw repeats, as it must.
    per_stretch = steps // evaluations * batch_size
    rng = np.random.default_rng(seed)
    order = np.concatenate(
        [rng.permutation(len(x)) for _ in range(-(-per_stretch * evaluations // len(x)))]
    )[: per_stretch * evaluations]
    x_rep, y_rep = x[order], y[order]
    best = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=evaluations, restore_best_weights=True
    )
    history = model.fit(
        x_rep,
        y_rep,
        batch_size=batch_size,
        epochs=evaluations,
        steps_per_epoch=steps // evaluations,
        validation_data=(x_val, y_val),
        callbacks=[best],
        shuffle=False,
        verbose=0,
    )
    return model, history


def accuracy(model, x, y):
    """The share of images whose most probable class is their label."""
    x, y = _images("x", x), np.asarray(y).reshape(-1)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"`x` and `y` must hold one label per image (at least one), got {len(x)} images "
            f"and {len(y)} labels."
        )
    predicted = np.argmax(model.predict(x, batch_size=1000, verbose=0), axis=-1)
    return float(np.mean(predicted == y))


def _classifier(arm, objective):
    """A classifier's name in tables and logs: `scratch`, `frozen (plain)`, ..."""
    return arm if objective is None else f"{arm} ({objective})"


def check_labels(y, labels):
    """`labels` sorted, if each number can be drawn from `y` (at least 20:
    two of each digit, and no more of a digit than `y` holds), before any
    training."""
    labels = checks.each_once(
        "labels",
        labels,
        lambda n: checks.positive_int("labels", n, minimum=20, why=" (two of each digit)"),
    )
    for n in labels:
        try:
            data.labelled_draw(y, n)
        except ValueError as error:
            raise checks.ArgumentError(
                "labels", f"`labels`: {n} cannot be drawn: {error}"
            ) from None
    return sorted(labels)


def check_objectives(objectives):
    """`objectives` as a list, if each is one of `OBJECTIVES`, once."""
    return checks.each_once(
        "objectives", objectives, lambda o: checks.choice("objectives", o, OBJECTIVES)
    )


def summarize(records):
    """One row per number of labels and classifier: `tables.summarize` rows
    with `test_accuracy` as `[mean, lowest, highest]` over the draws.
    Classifiers are `scratch`, `frozen (plain)`, `fine-tuned (plain)`, ...
    in the order they ran."""
    trained = [
        {**r, "classifier": _classifier(r["arm"], r["objective"])}
        for r in records
        if r["arm"] != "pretraining"
    ]
    return tables.summarize(trained, ("labels", "classifier"), ("test_accuracy",))


def format_table(rows):
    """`summarize`'s rows as a table: one line per number of labels, one
    column per classifier, `mean (lowest-highest)` over the draws."""
    names = list(dict.fromkeys(r["classifier"] for r in rows))
    cell = {
        (r["labels"], r["classifier"]): tables.span(r["test_accuracy"], r["runs"]) for r in rows
    }
    lines = [
        [n, *(cell.get((n, name), "-") for name in names)]
        for n in sorted({r["labels"] for r in rows})
    ]
    return tables.format_table(["labels", *names], lines, align=">" * (len(names) + 1))


def linear_autoencoder_vs_pca(x, dims=8, *, epochs=8, batch_size=128):
    """Train a linear autoencoder and compare its code with PCA's.

    A linear autoencoder (`dims` numbers, no activation, trained with MSE on
    centred images) can at best reach the error of keeping the top `dims`
    principal components, and it does so by spanning the same subspace,
    though in its own basis: the numbers need not be the components, only
    their span is the same. The principal angles between the decoder's
    subspace and PCA's (`scipy.linalg.subspace_angles`) measure how close it
    got.

    Args:
        x: images `(n, 28, 28, 1)`.
        dims: the code size, and the number of components. Default 8.
        epochs, batch_size: training of the linear autoencoder.
        The caller seeds its weights and shuffling (`keras.utils.set_random_seed`).

    Returns:
        A dict: `angles_degrees` (the `dims` principal angles, smallest
        first), `pca_mse` (the mean squared error of PCA's reconstruction,
        the least any `dims`-number linear code can reach), `autoencoder_mse`
        `mean_image_mse` (the error of keeping no component) and
        `captured` (the share of the variance PCA keeps that the autoencoder
        keeps too: 1 is PCA's optimum) and `variances` (the variance along
        each of the first `dims + 1` principal components, largest first).
    """
    x = _images("x", x).reshape(len(x), -1).astype(np.float64)
    dims = checks.positive_int("dims", dims)
    if dims >= min(x.shape):
        raise ValueError(f"`dims` must be below {min(x.shape)} here, got {dims}.")
    centred = x - x.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:dims]  # (dims, 784), orthonormal rows
    pca_recon = centred @ components.T @ components
    code = keras.Input((x.shape[1],), name="image")
    hidden = keras.layers.Dense(dims, use_bias=False, name="encode")(code)
    out = keras.layers.Dense(x.shape[1], use_bias=False, name="decode")(hidden)
    model = keras.Model(code, out, name="linear_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    data32 = centred.astype(np.float32)
    model.fit(data32, data32, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    decoder = keras.ops.convert_to_numpy(model.get_layer("decode").kernel).astype(np.float64)
    # The decoder's rows span its subspace of the 784 pixels; PCA's rows span PCA's.
    angles = scipy.linalg.subspace_angles(components.T, decoder.T)
    ae_recon = model.predict(data32, batch_size=1000, verbose=0)
    pca_mse = float(np.mean((centred - pca_recon) ** 2))
    ae_mse = float(np.mean((centred - ae_recon) ** 2))
    total = float(np.mean(centred**2))
    variances = singular**2 / len(centred)  # along each principal component
    return {
        "variances": variances[: dims + 1].tolist(),
        "angles_degrees": sorted(np.degrees(angles).tolist()),
        "pca_mse": pca_mse,
        "autoencoder_mse": ae_mse,
        "mean_image_mse": total,
        "captured": (total - ae_mse) / (total - pca_mse),
    }


def run(
    data=None,
    out="outputs/fewlabels",
    *,
    seeds=(0, 1, 2),
    epochs=2,
    limit=None,
    log=None,
    labels=(100, 300, 1000, 3000),
    objectives=OBJECTIVES,
    steps=1000,
    latent_dim=64,
):
    """The `python -m cae_keras fewlabels` job: what pretraining is worth.

    Pretrains `models.small_autoencoder` once per objective on the training
    images without their labels, then, at every number of labels and on one
    labelled draw per seed, trains the scratch classifier and the frozen and
    fine-tuned ones of every objective with the same budget, and tests each
    once. Publishes into a new run folder in `out` (see `cae_keras.publish`):
    `results.json`, `table.txt` and `accuracy.png`.

    Args:
        data: an `mnist.npz`. Default `None`: `data.load_mnist`'s search.
        out: the output folder. Default `"outputs/fewlabels"`.
        seeds: one labelled draw per seed, each seeding its draw and its
            classifiers; the first also seeds pretraining. Default `(0, 1, 2)`.
        epochs: pretraining epochs per objective. Default 2.
        limit: at most this many images per split. Default `None`: all.
        log: called with each progress line. Default: print it, flushed.
        labels: numbers of labelled images, each at least 20 (two of each
            digit, one for training and one for validation).
        objectives: pretraining objectives from `OBJECTIVES`, each once.
        steps: Adam steps per classifier, a multiple of 10 (ten validation
            checks), the same for every arm. Default 1000.
        latent_dim: numbers in the code. Default 64.

    Returns:
        The manifest written to `results.json` (`runs` holds the records:
        `labels`, `draw` (its seed), `arm`, `objective`, `val_accuracy`,
        `test_accuracy`, `seconds`, and one pretraining record per
        objective; `summary` the rows), with `folder`, `files` and `table`.

    Raises:
        checks.ArgumentError: a bad argument (named), before any training.
    """
    from cae_keras import plots, publish

    log = log or say
    seeds = checks.seeds(seeds)
    epochs = checks.positive_int("epochs", epochs)
    objectives = check_objectives(objectives)
    steps = checks.positive_int("steps", steps, minimum=10)
    if steps % 10:
        raise checks.ArgumentError(
            "steps", f"`steps` must be a multiple of 10 (ten validation checks), got {steps}."
        )
    latent_dim = checks.positive_int("latent_dim", latent_dim)
    out = publish.check_output_folder(out)
    (x_train, y_train), (x_test, y_test) = load_for_job(data, limit)
    labels = check_labels(y_train, labels)
    with publish.publishing(out) as run:
        start_all, records, encoders = time.perf_counter(), [], {}
        for objective in objectives:
            start = time.perf_counter()
            # A program seeds each run at its start, so every row can be repeated alone.
            keras.utils.set_random_seed(seeds[0])
            autoencoder, _ = _pretrain(
                x_train, objective, latent_dim=latent_dim, epochs=epochs, seed=seeds[0]
            )
            encoders[objective] = autoencoder.get_layer("encoder")
            loss = float(autoencoder.evaluate(x_test, x_test, batch_size=1000, verbose=0))
            seconds = time.perf_counter() - start
            log(f"pretrained ({objective}): test cross-entropy {loss:.4f} in {seconds:.1f} s")
            records.append(
                {
                    "arm": "pretraining",
                    "objective": objective,
                    "test_loss": loss,
                    "seconds": seconds,
                }
            )
        arms = [("scratch", None)] + [(a, o) for o in objectives for a in ARMS[1:]]
        for n in labels:
            for seed in seeds:
                train, val = labelled_draw(y_train, n, seed=seed)
                for arm, objective in arms:
                    start = time.perf_counter()
                    keras.utils.set_random_seed(seed)
                    model, history = _train_classifier(
                        arm,
                        x_train[train],
                        y_train[train],
                        x_train[val],
                        y_train[val],
                        encoder=encoders.get(objective),
                        latent_dim=latent_dim,
                        steps=steps,
                        seed=seed,
                    )
                    record = {
                        "labels": n,
                        "draw": seed,
                        "arm": arm,
                        "objective": objective,
                        "val_accuracy": max(history.history["val_accuracy"]),
                        "test_accuracy": accuracy(model, x_test, y_test),
                        "seconds": round(time.perf_counter() - start, 1),
                    }
                    records.append(record)
                    log(
                        f"  {n} labels, seed {seed}, {_classifier(arm, objective)}: test "
                        f"accuracy {record['test_accuracy']:.3f} ({record['seconds']:.1f} s)"
                    )
        rows = summarize(records)
        table = format_table(rows)
        (run.scratch / "table.txt").write_text(table + "\n")
        fig = plots.accuracy_vs_labels(rows)
        fig.savefig(run.scratch / "accuracy.png", dpi=100)
        plots.plt.close(fig)
        manifest = {
            "settings": {
                "seeds": seeds,
                "epochs": epochs,
                "limit": limit,
                "labels": labels,
                "objectives": objectives,
                "steps": steps,
                "latent_dim": latent_dim,
            },
            "train_images": int(len(x_train)),
            "test_images": int(len(x_test)),
            "total_seconds": round(time.perf_counter() - start_all, 1),
            "summary": rows,
            "runs": records,
        }
        run.publish(manifest)
    return {**manifest, "folder": run.folder, "files": run.files, "table": table}
