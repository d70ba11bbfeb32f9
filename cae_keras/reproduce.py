"""CNTK's 07_Deconvolution settings, trained and measured side by side.

`VARIANTS` lists every setting with CNTK's published RMSE (train / test, pixels
scaled by 1/256) where CNTK gives one: 0.225 / 0.223 for cMap=1 in its example
files, 0.196 for cMap=3 and 0.136 / 0.131 for 2x2 pooling on its documentation
page ("Image Auto Encoder using deconvolution and unpooling"), which also
describes the two-layer stack; and the test RMSE our recipe must reach at
every seed. `RECIPES` holds two ways to train them: `"cntk"`, CNTK's
own recipe translated to Keras (the reproduction), and `"ours"` (the
improvement), both on CNTK's budget of 3 epochs. `run_variant` trains one
variant with one recipe and seed; `summarize` folds several seeds into the
rows of `python -m cae_keras reproduce`.
"""

import math
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import keras
import numpy as np

from cae_keras import checks, models, tables
from cae_keras.data import load_for_job
from cae_keras.metrics import PerImageRMSE, evaluate_rmse, mse_per_image, per_image_rmse
from cae_keras.training import check_loss, say, total_steps


@dataclass(frozen=True)
class Variant:
    """One setting of CNTK's example."""

    name: str
    description: str
    build: object
    cntk_train: float | None = None
    cntk_test: float | None = None
    target_test: float | None = None


VARIANTS = {
    v.name: v
    for v in [
        Variant(
            "cmap1_pool4",
            "cMap=1, pool 4x4: 7x7x1 code",
            partial(models.cntk_autoencoder, cmap=1, pool=4),
            0.225,
            0.223,
            0.180,
        ),
        Variant(
            "cmap3_pool4",
            "cMap=3, pool 4x4: 7x7x3 code",
            partial(models.cntk_autoencoder, cmap=3, pool=4),
            None,
            0.196,
            0.130,
        ),
        Variant(
            "cmap1_pool2",
            "cMap=1, pool 2x2: 14x14x1 code",
            partial(models.cntk_autoencoder, cmap=1, pool=2),
            0.136,
            0.131,
            0.115,
        ),
        Variant(
            "two_layer",
            "two conv/pool layers, cMap 5 then 1: 7x7x1 code",
            models.cntk_two_layer_autoencoder,
            None,
            None,
            0.120,
        ),
        Variant(
            "cmap1_pool4_upsample",
            "ablation: cmap1_pool4 with UpSampling2D for unpooling",
            partial(models.cntk_autoencoder, cmap=1, pool=4, unpooling="upsample"),
        ),
        Variant(
            "two_layer_upsample",
            "ablation: two_layer with UpSampling2D for both unpoolings",
            partial(models.cntk_two_layer_autoencoder, unpooling="upsample"),
        ),
    ]
}


def cntk_momentum_sgd(batch_size=64, lr_per_sample=0.00015, time_constant=600):
    """CNTK's momentum SGD of 07_Deconvolution as a Keras optimizer.

    CNTK states both knobs per sample: `learning_rate_schedule(0.00015,
    UnitType.sample)` and `momentum_as_time_constant_schedule(600)`, with
    unit-gain momentum (its default). Translated for a minibatch of `B`:

    - CNTK sums the criterion over the minibatch and steps by the per-sample
      rate times that sum; Keras averages the loss over the batch. The same
      step in Keras needs `lr = lr_per_sample * B`.
    - A time constant of `T` samples means the momentum forgets by `1/e` every
      `T` samples: per minibatch, `m = exp(-B / T)` (0.899 for B = 64).
    - Unit-gain momentum keeps `v = m v + (1 - m) g` and steps `-lr v`; Keras'
      SGD keeps `v = m v - lr_k g` and steps `+v`. By induction `v_keras =
      -lr v_cntk` exactly when `lr_k = lr (1 - m)`.

    So Keras' `SGD(learning_rate=lr_per_sample * B * (1 - m), momentum=m)`
    makes the same updates as CNTK (0.00097 and 0.899 for B = 64).

    Args:
        batch_size: minibatch size. Default 64, CNTK's.
        lr_per_sample: CNTK's per-sample learning rate. Default 0.00015.
        time_constant: CNTK's momentum time constant in samples. Default 600.

    Returns:
        A `keras.optimizers.SGD`.

    Example:

    >>> sgd = cntk_momentum_sgd()
    >>> round(float(sgd.momentum), 4), round(float(sgd.learning_rate), 6)
    (0.8988, 0.000971)
    """
    batch_size = checks.positive_int("batch_size", batch_size)
    lr_per_sample = checks.positive_number("lr_per_sample", lr_per_sample)
    time_constant = checks.positive_number("time_constant", time_constant)
    momentum = math.exp(-batch_size / time_constant)
    return keras.optimizers.SGD(
        learning_rate=lr_per_sample * batch_size * (1.0 - momentum), momentum=momentum
    )


def cntk_glorot_uniform(scale=1.0):
    """CNTK's `glorot_uniform(scale)`: Glorot's uniform range times `scale`.

    Keras' `VarianceScaling` scales the variance, so the range scales by
    `sqrt(scale)`: CNTK's `scale` is Keras' `scale ** 2`.
    """
    scale = checks.positive_number("scale", scale)
    return keras.initializers.VarianceScaling(
        scale=scale**2, mode="fan_avg", distribution="uniform"
    )


@dataclass(frozen=True)
class Recipe:
    """How to train a variant: budget, optimizer, initialisation.

    Attributes:
        name: `"cntk"` or `"ours"`.
        description: one line for tables and logs.
        epochs: passes over the 60,000 training images.
        batch_size: images per step.
        optimizer: function of `(batch_size, steps)` returning a Keras
            optimizer.
        initializers: the `initializers` dict for the model builders.
    """

    name: str
    description: str
    epochs: int
    batch_size: int
    optimizer: object
    initializers: dict = field(default_factory=dict)


def _ours_optimizer(batch_size, steps):
    return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, steps))


def _cntk_optimizer(batch_size, steps):
    return cntk_momentum_sgd(batch_size)


RECIPES = {
    "cntk": Recipe(
        "cntk",
        "CNTK's recipe: momentum SGD (0.00015 per sample, time constant 600, unit gain), "
        "batch 64, deconv init glorot_uniform(0.001)",
        epochs=3,
        batch_size=64,
        optimizer=_cntk_optimizer,
        initializers={"deconv_kernel": "cntk_glorot_0.001"},
    ),
    "ours": Recipe(
        "ours",
        "ours: Adam from 1e-2 with cosine decay, batch 128, deconv init glorot_uniform(0.001), "
        "conv biases from 0.1",
        epochs=3,
        batch_size=128,
        optimizer=_ours_optimizer,
        initializers={"deconv_kernel": "cntk_glorot_0.001", "conv_bias": "ours_bias"},
    ),
}


def _initializers(recipe):
    """The recipe's initializers, as fresh Keras objects (never shared)."""
    named = {
        # A decoder that starts near zero (CNTK's own choice) sends small
        # gradients into the encoder at first: with Keras' default Glorot
        # decoder, Adam's first steps pushed conv_B's one ReLU filter below
        # zero at some seeds, and the two-layer model output zeros.
        "cntk_glorot_0.001": lambda: cntk_glorot_uniform(0.001),
        # A small positive bias: every ReLU filter starts switched on.
        "ours_bias": lambda: keras.initializers.Constant(0.1),
    }
    return {key: named[value]() for key, value in recipe.initializers.items()}


def check_variants(names):
    """The `Variant`s named, in order, each once, or a clear error."""
    names = checks.each_once("variants", names, lambda n: checks.choice("variants", n, VARIANTS))
    return [VARIANTS[n] for n in names]


def check_recipe(name):
    """The `Recipe` named, or a clear error."""
    return RECIPES[checks.choice("recipes", name, RECIPES)]


def run_variant(
    variant,
    x_train,
    x_test,
    *,
    recipe="ours",
    epochs=None,
    loss="rmse",
    verbose=0,
    callbacks=None,
):
    """Build, train and measure one variant with one recipe and seed.

    Args:
        variant: a `Variant` (or its name).
        x_train, x_test: images scaled as CNTK does (pixels / 256).
        recipe: `"ours"` or `"cntk"` (or a `Recipe`). Default `"ours"`.
        epochs: override the recipe's epochs. Default: the recipe's (3).
        loss: the training criterion: `"rmse"` (CNTK's) or any Keras loss.
            The record's RMSE figures are CNTK's per-image RMSE either way.
        verbose: Keras' progress output.
        callbacks: extra Keras callbacks.

    Returns:
        `(record, model)`: the record holds `variant`, `recipe`,
        `epochs`, `description`, `code_shape`, `params`,
        `cntk_train_rmse`, `cntk_test_rmse`, `target_test_rmse`, `train_rmse`,
        `test_rmse` and `seconds` (training time).
    """
    if isinstance(variant, str):
        (variant,) = check_variants([variant])
    elif not isinstance(variant, Variant):
        raise ValueError(
            f"`variant` must be a Variant or one of {sorted(VARIANTS)}, got {variant!r}."
        )
    recipe = recipe if isinstance(recipe, Recipe) else check_recipe(recipe)
    # Everything checked before the model is built and trained.
    epochs = recipe.epochs if epochs is None else checks.positive_int("epochs", epochs)
    x_train, x_test = checks.images("x_train", x_train), checks.images("x_test", x_test)
    for name, x in (("x_train", x_train), ("x_test", x_test)):
        if len(x) == 0:
            raise checks.ArgumentError(name, f"`{name}` holds no images.")
        if not np.all(np.isfinite(x)):
            # One NaN pixel in a batch turns every weight into NaN.
            raise checks.ArgumentError(name, f"`{name}` holds NaN or infinite pixels.")
    check_loss(loss)
    # The caller seeds first (`keras.utils.set_random_seed`): the initial
    # weights and the shuffling continue its stream.
    model = variant.build(initializers=_initializers(recipe))
    steps = total_steps(len(x_train), recipe.batch_size, epochs)
    start = time.perf_counter()
    model.compile(
        optimizer=recipe.optimizer(recipe.batch_size, steps),
        loss=per_image_rmse if loss == "rmse" else loss,
        # Another loss trains; CNTK's measure is still reported beside it.
        metrics=None if loss == "rmse" else [PerImageRMSE()],
    )
    model.fit(
        x_train,
        x_train,
        epochs=epochs,
        batch_size=recipe.batch_size,
        shuffle=True,
        verbose=verbose,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - start
    code = models.encoder_of(model).output.shape[1:]
    record = {
        "variant": variant.name,
        "recipe": recipe.name,
        "epochs": epochs,
        "description": variant.description,
        "code_shape": "x".join(str(d) for d in code),
        "params": int(model.count_params()),
        "cntk_train_rmse": variant.cntk_train,
        "cntk_test_rmse": variant.cntk_test,
        "target_test_rmse": variant.target_test,
        "train_rmse": evaluate_rmse(model, x_train),
        "test_rmse": evaluate_rmse(model, x_test),
        "seconds": round(seconds, 1),
    }
    return record, model


def summarize(records, targets=True):
    """One row per variant and recipe from per-seed records.

    Args:
        records: records from `run_variant`.
        targets: whether the targets apply to this run (full-size data and the
            default recipe's budget); otherwise `verdict` says so.

    Returns:
        `tables.summarize` rows: `variant`, `recipe`, `code_shape`, `params`,
        `cntk_train_rmse`, `cntk_test_rmse`, `target_test_rmse`, `runs`,
        `seeds`, `test_rmse` and `train_rmse` (each `[mean, lowest,
        highest]`), then `meets_target` (every seed of our recipe at or below
        the target; `None` where no target applies) and `verdict`.
    """
    keep = ("code_shape", "params", "cntk_train_rmse", "cntk_test_rmse", "target_test_rmse")
    rows = tables.summarize(records, ("variant", "recipe"), ("test_rmse", "train_rmse"), keep)
    for row in rows:
        target = row["target_test_rmse"]
        if not targets:
            row["meets_target"], row["verdict"] = None, "no target for this run"
        elif target is None or row["recipe"] != "ours":
            row["meets_target"], row["verdict"] = None, ""
        else:
            row["meets_target"] = row["test_rmse"][2] <= target
            row["verdict"] = "meets target" if row["meets_target"] else "MISSES target"
    return rows


def format_table(rows, targets=True):
    """Rows from `summarize` as a plain-text table, one line per variant.

    Columns: code shape, parameters, CNTK's published RMSE (train, test), the
    test RMSE of CNTK's recipe in Keras and of ours where trained (the mean
    over seeds, with the lowest-highest where there are several), our train
    RMSE, and the target and verdict where `targets`.
    """

    def num(value):
        return "-" if value is None else f"{value:.3f}"

    by_variant = {}
    for row in rows:
        by_variant.setdefault(row["variant"], {})[row["recipe"]] = row
    header = ["variant", "code", "params", "CNTK train", "CNTK test", "CNTK recipe", "ours test"]
    header += ["ours train"] + (["target", "verdict"] if targets else [])
    lines = []
    for variant, recipes in by_variant.items():
        first, ours = next(iter(recipes.values())), recipes.get("ours")
        test = {
            name: tables.span(r["test_rmse"], r["runs"]) if (r := recipes.get(name)) else "-"
            for name in RECIPES
        }
        line = [variant, first["code_shape"], first["params"], num(first["cntk_train_rmse"])]
        line += [num(first["cntk_test_rmse"]), test["cntk"], test["ours"]]
        line += [num(ours and ours["train_rmse"][0])]
        if targets:
            line += [num(first["target_test_rmse"]), ours["verdict"] if ours else ""]
        lines.append(line)
    align = "<" + ">" * (len(header) - 2) + ("<" if targets else ">")
    return tables.format_table(header, lines, align)


def first_images(model, images, n=5):
    """Code and reconstruction of the first `n` images, as NumPy arrays.

    Raises:
        ValueError: `n` is not a positive integer, or `images` holds none.
    """
    n = checks.positive_int("n", n)
    if len(images) == 0:
        raise ValueError("`images` holds no images to show.")
    codes = models.encoder_of(model).predict(images[:n], verbose=0)
    return np.asarray(codes), np.asarray(model.predict(images[:n], verbose=0))


def write_visualiser_text(folder, codes, reconstructions, prefix=""):
    """Write CNTK's visualiser text files: `encoder_output.txt`, `decoder_output.txt`.

    In CNTK's own format, so the two can be compared with `diff`: what
    `np.savetxt(path, array, fmt="%.6f")` writes for one flattened row per
    image (values separated by spaces, one line per image). CNTK's tensors
    are channel-first, so each row holds the first channel's rows, then the
    second channel's, and so on (C, H, W order); Keras' channels-last arrays
    are transposed to that order first.

    Args:
        folder: where to write.
        codes, reconstructions: `(n, h, w, c)` arrays (channels last).
        prefix: put before both file names.

    Returns:
        The two paths written.
    """
    written = (
        ("encoder_output.txt", "codes", np.asarray(codes)),
        ("decoder_output.txt", "reconstructions", np.asarray(reconstructions)),
    )
    # Every check before the first file is written.
    for _, argument, arrays in written:
        if arrays.ndim != 4:
            raise ValueError(
                f"`{argument}` must be (images, rows, columns, channels), got shape {arrays.shape}."
            )
    if len(written[0][2]) != len(written[1][2]):
        raise ValueError(
            f"`codes` and `reconstructions` must hold the same images, got {len(written[0][2])} "
            f"and {len(written[1][2])}."
        )
    paths = []
    for name, _, arrays in written:
        path = Path(folder) / f"{prefix}{name}"
        channel_first = np.transpose(arrays, (0, 3, 1, 2))
        np.savetxt(path, channel_first.reshape(len(arrays), -1), fmt="%.6f")
        paths.append(path)
    return paths


def all_black_rmse(images):
    """The RMSE of a model that outputs black (zeros) for every image: the
    level a model starts from when its decoder starts near zero, as CNTK's
    `glorot_uniform(0.001)` deconvolution does. Below it, a model has learned
    something."""
    images = np.asarray(images, np.float64)
    if len(images) == 0:
        raise ValueError("`images` holds no images: there is no mean RMSE over none.")
    return float(np.sqrt(mse_per_image(images, np.zeros_like(images))).mean())


def diagnose(model, images, first_conv="conv1", last_layer="deconv1"):
    """Where a trained CNTK-style model stands, measured on `images`.

    Separates the two ways a model can sit near the all-black RMSE: a dead
    encoder (no ReLU of `first_conv` fires on any image, so the decoder
    sees only zeros) or a decoder that has not yet grown from its near-zero
    start (the encoder fires, the output stays faint).

    Args:
        model: a trained model from `VARIANTS`.
        images: the images to measure on (pixels / 256).
        first_conv: the encoder's first convolution (`"conv_A"` in the
            two-layer stack). Default `"conv1"`.
        last_layer: the decoder's last layer (`"deconv_A"` in the stack).

    Returns:
        A dict: `rmse`, `all_black_rmse`, `left_start` (RMSE below 90% of the
        all-black RMSE), `output_max` (the brightest output pixel),
        `image_max` (the brightest input pixel), `active_share` (the share of
        `first_conv`'s outputs above zero) and `decoder_max` (the largest
        absolute weight of `last_layer`'s kernel).
    """
    images = np.asarray(images)
    if len(images) == 0:
        raise ValueError("`images` must hold at least one image.")
    outputs = np.asarray(model.predict(images, batch_size=1000, verbose=0))
    conv = keras.Model(model.inputs, model.get_layer(first_conv).output)
    activations = np.asarray(conv.predict(images, batch_size=1000, verbose=0))
    kernel = keras.ops.convert_to_numpy(model.get_layer(last_layer).kernel)
    rmse = float(np.sqrt(mse_per_image(images, outputs)).mean())
    black = all_black_rmse(images)
    return {
        "rmse": rmse,
        "all_black_rmse": black,
        "left_start": rmse < 0.9 * black,
        "output_max": float(outputs.max()),
        "image_max": float(images.max()),
        "active_share": float((activations > 0).mean()),
        "decoder_max": float(np.abs(kernel).max()),
    }


def single_layer_variant(cmap, pool):
    """The single-layer setting for `cmap` and `pool`: the page's own entry in
    `VARIANTS` where it publishes one, else a new `Variant` without CNTK numbers.

    Example:

    >>> single_layer_variant(1, 4).cntk_test, single_layer_variant(3, 2).name
    (0.223, 'cmap3_pool2')
    """
    cmap = checks.positive_int("cmap", cmap)
    pool = models.check_pool("pool", pool)
    return published(cmap, pool) or Variant(
        f"cmap{cmap}_pool{pool}",
        f"cMap={cmap}, pool {pool}x{pool}: {28 // pool}x{28 // pool}x{cmap} code",
        partial(models.cntk_autoencoder, cmap=cmap, pool=pool),
    )


def published(cmap, pool):
    """CNTK's published single-layer setting for `cmap` and `pool`, or `None`."""
    for variant in VARIANTS.values():
        keywords = getattr(variant.build, "keywords", {})
        if (
            keywords.get("cmap") == cmap
            and keywords.get("pool") == pool
            and keywords.get("unpooling", "max") == "max"
        ):
            return variant
    return None


def run(
    data=None,
    out="outputs/reproduce",
    *,
    seeds=(0,),
    epochs=None,
    limit=None,
    log=None,
    variants=tuple(VARIANTS),
    recipes=("ours",),
):
    """The `python -m cae_keras reproduce` job: train, compare, publish.

    Trains every variant with every recipe at every seed, then publishes into
    a new run folder in `out` (see `cae_keras.publish`): `results.json`
    (the settings that ran, the summary rows and every run's record; also
    `out/results.json`, which names the folder), `table.txt` (the table
    printed), `comparison.png`, `loss_curves.png`, and for the first seed of
    each variant and recipe its figure and CNTK's visualiser text files.
    Nothing of a previous run in `out` changes until every run has finished.

    The targets (and so a failing verdict) apply only where they were set:
    our recipe on the full data (60,000 and 10,000 images) at its budget.

    Args:
        data: an `mnist.npz`. Default `None`: `data.load_mnist`'s search.
        out: the output folder. Default `"outputs/reproduce"`.
        seeds: seeds, each once; each run is seeded at its start. Default `(0,)`.
        epochs: epochs for every run. Default: each recipe's own (3).
        limit: at most this many images per split. Default `None`: all.
        log: called with each progress line. Default: print it, flushed.
        variants: names from `VARIANTS`, each once. Default: all.
        recipes: names from `RECIPES`, each once. Default `("ours",)`.

    Returns:
        The manifest written to `results.json` (`runs` holds the records,
        `summary` the rows), with `folder` (the run's folder), `files` (what
        is in it) and `table` (the printed table) added.

    Raises:
        checks.ArgumentError: a bad argument (named), before any training.
    """
    from cae_keras import plots, publish
    from cae_keras.training import EpochProgress, LossCurve

    log = log or say
    variants = check_variants(variants)
    recipes = checks.each_once("recipes", recipes, lambda r: checks.choice("recipes", r, RECIPES))
    recipes = [RECIPES[r] for r in recipes]
    seeds = checks.seeds(seeds)
    if epochs is not None:
        epochs = checks.positive_int("epochs", epochs)
    out = publish.check_output_folder(out)
    (x_train, _), (x_test, _) = load_for_job(data, limit, scale=256.0)
    full_size = len(x_train) == 60000 and len(x_test) == 10000
    ran_epochs = {r.name: epochs or r.epochs for r in recipes}
    targets = full_size and any(
        r.name == "ours" and ran_epochs["ours"] == r.epochs for r in recipes
    )
    runs = [(v, r, s) for v in variants for r in recipes for s in seeds]
    log(
        f"Training {len(variants)} variants x {len(recipes)} recipe(s) x {len(seeds)} seed(s) "
        f"on {len(x_train)} images, testing on {len(x_test)}."
    )
    for recipe in recipes:
        log(f"  {recipe.description}; {ran_epochs[recipe.name]} epochs")
    with publish.publishing(out) as run:
        records, reconstructions, curves = [], {}, {}
        started = time.perf_counter()
        for i, (variant, recipe, seed) in enumerate(runs, 1):
            key = variant.name if len(recipes) == 1 else f"{variant.name}_{recipe.name}"
            label = f"{variant.name}, {recipe.name} recipe, seed {seed}"
            log(f"[{i}/{len(runs)}] {label}: {variant.description}")
            curve = LossCurve()
            # A program seeds each run at its start, so that every row can be
            # repeated on its own (`--seeds 3` gives seed 3's row of a sweep).
            keras.utils.set_random_seed(seed)
            record, model = run_variant(
                variant,
                x_train,
                x_test,
                recipe=recipe,
                epochs=ran_epochs[recipe.name],
                callbacks=[EpochProgress("      ", print_fn=log), curve],
            )
            log(
                f"      test RMSE {record['test_rmse']:.4f} "
                f"(train {record['train_rmse']:.4f}) in {record['seconds']:.1f} s"
            )
            record["seed"] = seed
            records.append(record)
            # Figures and CNTK's text files for the first seed of each variant
            # and recipe: one set per model people compare.
            if seed == seeds[0]:
                curves[key] = curve
                codes, recon = first_images(model, x_test)
                reconstructions[key] = recon
                title = f"{label}: original, code, decoding"
                fig = plots.cntk_figure(x_test, codes, recon, title=title)
                fig.savefig(run.scratch / f"{key}_figure.png", dpi=100)
                plots.plt.close(fig)
                write_visualiser_text(run.scratch, codes, recon, prefix=f"{key}_")
        total = time.perf_counter() - started
        for name, fig in (
            ("comparison.png", plots.comparison_figure(x_test, reconstructions)),
            (
                "loss_curves.png",
                plots.loss_curves(
                    curves,
                    title=f"Training curves, seed {seeds[0]}",
                    baselines={"all-black output": all_black_rmse(x_train)},
                ),
            ),
        ):
            fig.savefig(run.scratch / name, dpi=100)
            plots.plt.close(fig)
        rows = summarize(records, targets=targets)
        table = format_table(rows, targets=targets)
        (run.scratch / "table.txt").write_text(table + "\n")
        manifest = {
            "recipes": {r.name: r.description for r in recipes},
            "epochs": ran_epochs,
            "seeds": seeds,
            "train_images": int(len(x_train)),
            "test_images": int(len(x_test)),
            "targets_apply": targets,
            "total_seconds": round(total, 1),
            "summary": rows,
            "runs": records,
        }
        run.publish(manifest)
    return {**manifest, "folder": run.folder, "files": run.files, "table": table}
