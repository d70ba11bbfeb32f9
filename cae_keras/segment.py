"""Segmentation of digit scenes, what max unpooling was made for (lesson 10
and `python -m cae_keras segment`).

The task: scenes of MNIST digits on a black canvas of any size
(`data.digit_scenes`), a label per pixel (background, or the digit), 11
classes. Three fully convolutional decoders on one encoder
(`models.segmentation_model`): SegNet's max unpooling, its `UpSampling2D`
twin, and U-Net's skip concatenation. Trained on small scenes, each is
tested with the same weights on larger and odd-sized ones.

The job, `run`, trains every model at every seed, prints one table, and
publishes `results.json`, the figures and every trained model (`.keras`)
into a new run folder (see `cae_keras.publish`).
"""

import contextlib
import time

import keras
import numpy as np
from keras.distribution import DataParallel

from cae_keras import checks, data, metrics, models, tables
from cae_keras.data import digit_scenes, load_for_job
from cae_keras.layers import CropLike, MaxUnpooling2D
from cae_keras.training import balanced_class_weights, say, step_size

#: The recommended full-size run: `python -m cae_keras segment` with no options.
DEFAULTS = {
    "models": list(models.SEGMENTATION_MODELS),
    "seeds": [0, 1, 2],
    "epochs": 4,
    "scenes": 12000,
    "size": 48,
    "digits": (1, 3),
    "eval_sizes": [(48, 48), (61, 83), (96, 128)],
    "test_scenes": 300,
    "batch_size": 16,
    "learning_rate": 1e-3,
    "decay": False,
    "balance": 0.0,
    "band": 2,
}
#: Test scenes are drawn with their own seeds, the same for every model and
#: training seed, so every row of a table is scored on identical scenes.
TEST_SEED = 10_000


def check_sizes(name, sizes):
    """Evaluation sizes: a non-empty list of `(rows, cols)`, each at least 28, each once."""
    return checks.each_once(name, sizes, lambda size: checks.pair(name, size, 28))


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
        raise checks.ArgumentError(
            "devices", f"`devices` must be a positive integer or 'all', got {devices!r}."
        )
    backend = keras.backend.backend()
    if backend != "jax":
        raise checks.ArgumentError(
            "devices",
            f"`devices`={devices!r}: training on several devices uses Keras' distribution API "
            f"(keras.distribution.DataParallel), which runs on JAX only; this is {backend}. "
            "Start Python with KERAS_BACKEND=jax, or train on one device (devices=None).",
        )
    available = keras.distribution.list_devices()
    count = len(available) if devices == "all" else int(devices)
    if count > len(available):
        raise checks.ArgumentError(
            "devices",
            f"`devices`={devices!r}, but JAX sees {len(available)} device(s) "
            f"({', '.join(map(str, available))}). On a CPU, set JAX_NUM_CPU_DEVICES before "
            "JAX starts to split it into virtual devices.",
        )
    return None if count == 1 else available[:count]


def test_sets(x_test, y_test, sizes, n, seed=TEST_SEED):
    """`{(rows, cols): (scenes, masks)}` of `n` test scenes per size, from
    test images only."""
    return {
        size: data.digit_scenes(x_test, y_test, n, size, seed=seed + i)
        for i, size in enumerate(check_sizes("sizes", sizes))
    }


def predict_masks(model, scenes, batch_size=32):
    """The most probable class of every pixel, uint8 `(n, rows, cols)`."""
    scenes = checks.images("scenes", scenes)
    batch_size = checks.positive_int("batch_size", batch_size)
    if len(scenes) == 0:
        return np.zeros(scenes.shape[:3], np.uint8)
    # Calls, not `model.predict`: predict compiles a graph for every new
    # scene size (seconds each on a CPU), and the test sets come in several.
    labels = [
        keras.ops.convert_to_numpy(
            keras.ops.argmax(model(scenes[i : i + batch_size], training=False), axis=-1)
        )
        for i in range(0, len(scenes), batch_size)
    ]
    return np.concatenate(labels).astype(np.uint8)


def evaluate(model, scenes, masks, band=2, classes=data.SCENE_CLASSES):
    """Scores of `model` on scenes of one size.

    Returns:
        A dict: `miou`, `pixel_accuracy`, `iou` (per class, `None` where a
        class is absent from truth and prediction), and `boundary_miou`, the
        mean IoU over the pixels within `band` pixels of a true edge
        (`metrics.boundary_band`), where positions matter most.
    """
    predicted = predict_masks(model, scenes)
    scores = metrics.segmentation_scores(masks, predicted, classes)
    near = metrics.boundary_band(np.asarray(masks), band)
    scores["boundary_miou"] = metrics.segmentation_scores(masks, predicted, classes, near)["miou"]
    return scores


def passed_bytes(model, size):
    """Bytes per image each decoder keeps from the encoder at `size`, read
    from the model's own tensors.

    Every tensor an encoder layer (`enc*`) makes and a decoder layer
    (`dec*`) takes counts its dtype's size times its shape for one scene of
    `size`: SegNet's uint8 positions, U-Net's float32 maps, the pooling
    inputs of the pool-input SegNet. Not counted: the deepest pooled map,
    where every decoder starts, and tensors a layer reads only the size of
    (the third input of `MaxUnpooling2D`, `CropLike`'s reference).
    """
    rows, cols = checks.pair("size", size, 1)
    pools = [layer for layer in model.layers if layer.name.startswith("enc")]
    deepest = (pools[-1].name, 0)
    crossing = {}
    for layer in model.layers:
        if not layer.name.startswith("dec"):
            continue
        for index, tensor in enumerate(layer._inbound_nodes[0].input_tensors):
            source = tensor._keras_history
            key = (source.operation.name, source.tensor_index)
            shape_only = (isinstance(layer, MaxUnpooling2D) and index == 2) or (
                isinstance(layer, CropLike) and index == 1
            )
            if source.operation.name.startswith("enc") and key != deepest and not shape_only:
                crossing[key] = tensor
    if not crossing:
        return 0
    # The shapes for one scene of `size`: each layer's own shape rule, symbolically.
    probe = keras.Model(model.input, list(crossing.values()))
    outputs = probe(keras.Input((rows, cols, model.input.shape[-1]), batch_size=1))
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return sum(
        int(np.prod(out.shape[1:])) * np.dtype(keras.backend.standardize_dtype(out.dtype)).itemsize
        for out in outputs
    )


#: How each decoder is called in tables and sentences.
NAMES = {
    "segnet": "SegNet (max unpooling)",
    "segnet_pool_input": "SegNet from pool inputs",
    "upsample": "UpSampling2D twin",
    "unet": "U-Net (concatenation)",
}
#: What each decoder takes from the encoder at every level.
PASSES = {
    "segnet": "where each maximum was: 1 byte (uint8) per pooled value",
    "segnet_pool_input": "the pooling inputs, float32 (to find the maxima again)",
    "upsample": "nothing",
    "unet": "the encoder's whole maps, float32",
}


def decoder_rows(size, widths=(16, 32, 64), convs=2):
    """The three decoders side by side at `size`: one dict per model with
    `model`, `params`, `bytes` (what it takes from the encoder per scene,
    `passed_bytes`) and `passes` (what that is, in words)."""
    size = checks.pair("size", size, 1)
    rows = []
    for kind in models.SEGMENTATION_KINDS:
        model = models.segmentation_model(kind, widths=widths, convs=convs)
        rows.append(
            {
                "model": kind,
                "params": int(model.count_params()),
                "bytes": passed_bytes(model, size),
                "passes": PASSES[kind],
            }
        )
    return rows


def decoders_table(size, widths=(16, 32, 64), convs=2):
    """`decoder_rows` as a printed table."""
    rows, cols = checks.pair("size", size, 1)
    lines = [
        [NAMES[r["model"]], r["params"], f"{r['bytes']:,.0f}", r["passes"]]
        for r in decoder_rows((rows, cols), widths, convs)
    ]
    return tables.format_table(
        ["model", "params", "bytes/scene", "takes from the encoder"],
        lines,
        align="<>><",
        note=f"bytes per {rows}x{cols} scene, summed over the {len(widths)} levels.",
    )


def decoder_sizes(model, size):
    """`[(layer name, (rows, cols)), ...]`: the size each decoder level
    returns to, for a scene of `size`: the shapes `model`'s decoder layers
    (`*_unpool`, `*_upsample`, `*_crop`) give a symbolic scene of that size.

    Args:
        model: a segmentation model, or the name of one of
            `models.SEGMENTATION_MODELS` to build with default settings.
        size: the scene's `(rows, cols)`.

    Example:

    >>> decoder_sizes("segnet", (61, 83))[-1]
    ('dec1_unpool', (61, 83))
    """
    rows, cols = checks.pair("size", size, 1)
    if isinstance(model, str):
        model = models.segmentation_model(model)

    shown = [
        layer
        for layer in model.layers
        if layer.name.rsplit("_", 1)[-1] in ("unpool", "upsample", "crop")
    ]
    if not shown:
        raise ValueError(f"`model` {model.name!r} has no unpooling, upsampling or cropping layers.")
    probe = keras.Model(model.input, [layer.output for layer in shown])
    # Symbolically: each layer's own shape rule, no arithmetic run.
    outputs = probe(keras.Input((rows, cols, model.input.shape[-1]), batch_size=1))
    return [
        (layer.name, tuple(int(n) for n in out.shape[1:3])) for layer, out in zip(shown, outputs)
    ]


def _run_model(
    kind,
    train,
    tests,
    *,
    seed=0,
    epochs=4,
    batch_size=16,
    learning_rate=1e-3,
    decay=False,
    balance=0.0,
    band=2,
    devices=None,
    widths=(16, 32, 64),
    convs=2,
    callbacks=None,
    verbose=0,
):
    """Train one model and score it on every test size.

    `run` checked the settings; the caller seeds first
    (`keras.utils.set_random_seed(seed)`), and `seed` is recorded with the
    scores.

    Returns:
        `(record, model)`: the record holds `model`, `seed`, `params`,
        `seconds`, `images_per_second` (training), `bytes_passed` (per image,
        at the training size) and `scores` by size (`"48x48"`: `evaluate`'s
        dict).
    """
    scenes, masks = train
    chosen = check_devices(devices)
    if chosen is not None and len(scenes) % batch_size:
        # A last, smaller batch would not split evenly among the devices.
        keep = len(scenes) - len(scenes) % batch_size
        scenes, masks = scenes[:keep], masks[:keep]
    weights = balanced_class_weights(masks, data.SCENE_CLASSES, balance) if balance else None
    start = time.perf_counter()
    # With several devices the model is built inside the distribution's
    # scope, so that its variables are copied to each; each global batch is
    # split between them, and the losses match one device's (up to rounding).
    scope = DataParallel(devices=chosen).scope() if chosen else contextlib.nullcontext()
    with scope:
        model = models.segmentation_model(kind, widths=widths, convs=convs)
        model.compile(
            optimizer=keras.optimizers.Adam(
                step_size(learning_rate, decay, len(scenes), batch_size, epochs)
            ),
            loss="sparse_categorical_crossentropy",
            # XLA fuses the convolutions, batch normalisations and
            # concatenations: on a 2-core CPU U-Net trains about 2.5 times as
            # fast (TensorFlow's "auto" would run plain graphs there).
            jit_compile=True if keras.backend.backend() in ("tensorflow", "jax") else "auto",
        )
        history = model.fit(
            scenes,
            masks,
            # Per pixel: the weight of the class it truly is.
            sample_weight=None if weights is None else weights[masks],
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=verbose,
            callbacks=callbacks,
        )
    seconds = time.perf_counter() - start
    record = {
        "model": kind,
        "seed": seed,
        "params": int(model.count_params()),
        "seconds": round(seconds, 1),
        "images_per_second": round(len(scenes) * epochs / seconds, 1),
        "final_loss": float(history.history["loss"][-1]),
        "bytes_passed": passed_bytes(model, scenes.shape[1:3]),
        "scores": {f"{r}x{c}": evaluate(model, *tests[(r, c)], band=band) for r, c in tests},
    }
    return record, model


def mean_iou(records, size):
    """Per model, each class's IoU at `size` averaged over seeds (`None` where
    the class was absent at every seed)."""
    key = f"{size[0]}x{size[1]}"
    result = {}
    for kind in dict.fromkeys(r["model"] for r in records):
        per_seed = [r["scores"][key]["iou"] for r in records if r["model"] == kind]
        result[kind] = [
            float(np.mean(present)) if (present := [v for v in values if v is not None]) else None
            for values in zip(*per_seed)
        ]
    return result


def summarize(records):
    """One row per model: `tables.summarize` rows with `miou_<size>` for each
    evaluation size, `boundary_miou` at the largest, `seconds` and
    `images_per_second`, each `[mean, lowest, highest]` over seeds, and the
    model's `params` and `bytes_passed`."""
    sizes = list(records[0]["scores"])
    flat = [
        {
            **{f"miou_{size}": r["scores"][size]["miou"] for size in sizes},
            **r,
            "boundary_miou": r["scores"][sizes[-1]]["boundary_miou"],
            "boundary_size": sizes[-1],
        }
        for r in records
    ]
    values = [f"miou_{size}" for size in sizes] + ["boundary_miou", "seconds", "images_per_second"]
    keep = ("params", "bytes_passed", "boundary_size")
    return tables.summarize(flat, ("model",), values, keep)


def format_table(rows):
    """`summarize`'s rows as the printed table."""
    sizes = [k.removeprefix("miou_") for k in rows[0] if k.startswith("miou_")]
    header = ["model", "params", "s", "img/s", *(f"mIoU {s}" for s in sizes)]
    header.append(f"boundary {rows[0]['boundary_size']}")
    lines = []
    for r in rows:
        spans = [tables.span(r[f"miou_{s}"], r["runs"], 3, 2) for s in sizes]
        spans.append(tables.span(r["boundary_miou"], r["runs"], 3, 2))
        line = [r["model"], r["params"], f"{r['seconds'][0]:.1f}"]
        lines.append(line + [f"{r['images_per_second'][0]:.0f}", *spans])
    seeds = rows[0]["seeds"]
    note = f"mean over seeds {seeds} (lowest-highest); the same test scenes for every row."
    return tables.format_table(header, lines, note=note if len(seeds) > 1 else None)


def check_settings(settings):
    """`run`'s settings completed from `DEFAULTS` and checked, before any
    work; a `checks.ArgumentError` names the setting."""
    unknown = sorted(set(settings) - set(DEFAULTS) - {"devices", "widths"})
    if unknown:
        raise checks.ArgumentError(
            unknown[0], f"unknown settings {unknown}; known: {sorted(DEFAULTS)}."
        )
    s = {**DEFAULTS, "devices": None, "widths": (16, 32, 64), **settings}
    s["models"] = checks.each_once(
        "models", s["models"], lambda m: checks.choice("models", m, models.SEGMENTATION_KINDS)
    )
    s["seeds"] = checks.seeds(s["seeds"])
    for name in ("epochs", "scenes", "test_scenes", "batch_size"):
        s[name] = checks.positive_int(name, s[name])
    s["size"] = checks.pair("size", s["size"], 28)
    s["digits"] = checks.count_range("digits", s["digits"])
    s["balance"] = checks.fraction("balance", s["balance"])
    if not isinstance(s["decay"], bool):
        raise checks.ArgumentError("decay", f"`decay` must be True or False, got {s['decay']!r}.")
    s["eval_sizes"] = check_sizes("eval_sizes", s["eval_sizes"])
    s["learning_rate"] = checks.positive_number("learning_rate", s["learning_rate"])
    s["band"] = checks.positive_int("band", s["band"], minimum=0)
    chosen = check_devices(s["devices"])
    if chosen is not None and s["batch_size"] % len(chosen):
        raise checks.ArgumentError(
            "batch_size",
            f"`batch_size`={s['batch_size']} must divide evenly among the {len(chosen)} devices.",
        )
    if chosen is not None and s["scenes"] < s["batch_size"]:
        raise checks.ArgumentError(
            "scenes",
            f"`scenes`={s['scenes']}: several devices need at least one whole batch "
            f"({s['batch_size']}).",
        )
    return s


def run(
    data=None, out="outputs/segment", *, seeds=(0, 1, 2), epochs=4, limit=None, log=None, **settings
):
    """The `python -m cae_keras segment` job: train every model at every seed
    on scenes made from MNIST's training digits, score each on test scenes of
    every size made from its test digits, and publish into a new run folder
    in `out` (see `cae_keras.publish`): `results.json`, `table.txt`,
    `masks.png`, `iou.png` and `<model>_seed<seed>.keras` for every trained
    model.

    Args:
        data: an `mnist.npz`. Default `None`: `data.load_mnist`'s search.
        out: the output folder. Default `"outputs/segment"`.
        seeds: seeds, each once; each run is seeded at its start. Default
            `(0, 1, 2)`.
        epochs: passes over the training scenes per run. Default 4.
        limit: at most this many MNIST images per split. Default `None`: all.
        log: called with each progress line. Default: print it, flushed.
        **settings: any other of `DEFAULTS` (and `devices`, `widths`).

    Returns:
        The manifest written to `results.json` (`runs` holds the records,
        `summary` the rows), with `folder`, `files` and `table` added.

    Raises:
        checks.ArgumentError: a bad argument (named), before any training.
    """
    from cae_keras import plots, publish

    log = log or say
    s = check_settings({**settings, "seeds": seeds, "epochs": epochs})
    out = publish.check_output_folder(out)
    (x_train, y_train), (x_test, y_test) = load_for_job(data, limit)
    train = digit_scenes(x_train, y_train, s["scenes"], s["size"], s["digits"], seed=0)
    tests = test_sets(x_test, y_test, s["eval_sizes"], s["test_scenes"])
    log(
        f"Training {len(s['models'])} model(s) x {len(s['seeds'])} seed(s) on {s['scenes']} "
        f"scenes of {s['size'][0]}x{s['size'][1]}, {s['epochs']} epochs; testing on "
        f"{s['test_scenes']} scenes of each of "
        + ", ".join(f"{r}x{c}" for r, c in s["eval_sizes"])
        + "."
    )
    with publish.publishing(out) as run:
        records, shown, start = [], {}, time.perf_counter()
        for kind in s["models"]:
            for seed in s["seeds"]:
                log(f"  {kind}, seed {seed} ...")
                # A program seeds each run at its start, so each row can be repeated alone.
                keras.utils.set_random_seed(seed)
                record, model = _run_model(
                    kind,
                    train,
                    tests,
                    seed=seed,
                    epochs=s["epochs"],
                    batch_size=s["batch_size"],
                    learning_rate=s["learning_rate"],
                    decay=s["decay"],
                    balance=s["balance"],
                    band=s["band"],
                    devices=s["devices"],
                    widths=s["widths"],
                )
                last = list(record["scores"])[-1]
                log(
                    f"    {record['seconds']:.1f} s ({record['images_per_second']:.0f} images/s), "
                    f"mIoU {last} {record['scores'][last]['miou']:.3f}"
                )
                model.save(run.scratch / f"{kind}_seed{seed}.keras")
                if seed == s["seeds"][0]:
                    size = s["eval_sizes"][-1]
                    shown[kind] = predict_masks(model, tests[size][0][:4])
                records.append(record)
        rows = summarize(records)
        table = format_table(rows)
        (run.scratch / "table.txt").write_text(table + "\n")
        size = s["eval_sizes"][-1]
        scenes, masks = tests[size]
        for name, fig in (
            ("masks.png", plots.segmentation_figure(scenes[:4], masks[:4], shown)),
            (
                "iou.png",
                plots.iou_bars(
                    mean_iou(records, size), title=f"IoU per class at {size[0]}x{size[1]}"
                ),
            ),
        ):
            fig.savefig(run.scratch / name, dpi=100)
            plots.plt.close(fig)
        manifest = {
            "settings": {
                **{k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()},
                "limit": limit,
            },
            "train_images": int(len(x_train)),
            "test_images": int(len(x_test)),
            "total_seconds": round(time.perf_counter() - start, 1),
            "summary": rows,
            "runs": records,
        }
        run.publish(manifest)
    return {**manifest, "folder": run.folder, "files": run.files, "table": table}
