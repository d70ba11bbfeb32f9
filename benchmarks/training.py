"""Benchmark: training images per second of every model, on this CPU.

    python benchmarks/training.py [--images 10000] [--batch-size 128] [--repeats 5]
    python benchmarks/training.py --segmentation [--scenes 2000] [--size 48]

Each model trains one warm-up epoch (tracing, and compilation for the full and
the last, partial batch), then `--repeats` timed epochs, interleaved across the
models so that the machine's drift hits them alike; the figure is the median
images per second. It runs `fit` as a student's CPU-only machine does (on
TensorFlow, `jit_compile="auto"`: plain graphs). Printed, never asserted.

`--segmentation` times the segmentation models of lesson 10 instead
(`models.segmentation_model`, batch 16, compiled as the `segment` command
compiles them: with XLA on TensorFlow and JAX) on digit scenes, SegNet both
with stored positions and unpooling from its pooling inputs, and compares
SegNet with its UpSampling2D twin (target: at least 0.9x) and with the
pool-input SegNet (target: at least 1.0x).
"""

# cae_keras first: it imports Keras with TensorFlow's start-up lines kept off the screen.
from cae_keras import data, models  # isort: split

import argparse
import statistics
import time

import keras

from cae_keras.metrics import per_image_rmse
from cae_keras.reproduce import VARIANTS


def builders():
    for name, variant in VARIANTS.items():
        yield name, variant.build, "rmse"
    yield "latent_2d", models.latent_autoencoder, "mse"


def segmentation(args):
    (x, y), _ = data.load_mnist()
    scenes, masks = data.digit_scenes(x, y, args.scenes, args.size, seed=0)
    print(
        f"Keras {keras.__version__} ({keras.backend.backend()}), {len(scenes)} scenes of "
        f"{args.size}x{args.size}, batch 16, median of {args.repeats} interleaved epochs"
    )
    trained = {}
    for kind in models.SEGMENTATION_KINDS:
        keras.utils.set_random_seed(0)
        model = models.segmentation_model(kind)
        xla = keras.backend.backend() in ("tensorflow", "jax")
        model.compile("adam", "sparse_categorical_crossentropy", jit_compile=xla or "auto")
        model.fit(scenes, masks, epochs=1, batch_size=16, verbose=0)
        trained[kind] = (model, [])
    for _ in range(args.repeats):
        for model, rates in trained.values():
            start = time.perf_counter()
            model.fit(scenes, masks, epochs=1, batch_size=16, verbose=0)
            rates.append(len(scenes) / (time.perf_counter() - start))
    return trained, [("segnet", "upsample", 0.9), ("segnet", "segnet_pool_input", 1.0)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--segmentation", action="store_true", help="lesson 10's models")
    parser.add_argument("--scenes", type=int, default=2000)
    parser.add_argument("--size", type=int, default=48)
    args = parser.parse_args(argv)
    if args.segmentation:
        report(*segmentation(args))
        return
    (x_train, _), _ = data.load_mnist(limit=args.images, scale=256.0)
    print(
        f"Keras {keras.__version__} ({keras.backend.backend()}), {len(x_train)} images, "
        f"batch {args.batch_size}, median of {args.repeats} interleaved epochs"
    )
    trained = {}
    for name, build, loss in builders():
        keras.utils.set_random_seed(0)
        model = build()
        model.compile(keras.optimizers.Adam(3e-3), per_image_rmse if loss == "rmse" else loss)
        model.fit(x_train, x_train, epochs=1, batch_size=args.batch_size, verbose=0)
        trained[name] = (model, [])
    for _ in range(args.repeats):
        for model, rates in trained.values():
            start = time.perf_counter()
            model.fit(x_train, x_train, epochs=1, batch_size=args.batch_size, verbose=0)
            rates.append(len(x_train) / (time.perf_counter() - start))
    report(trained, [("cmap1_pool4", "cmap1_pool4_upsample", 0.8)])


def report(trained, pairs):
    """The table, then each model's speed against another's, with its target:
    `pairs` holds `(model, other, lowest ratio)`."""
    print(f"{'model':<24}{'params':>8}{'images/s':>10}")
    medians = {name: statistics.median(rates) for name, (_, rates) in trained.items()}
    for name, (model, _) in trained.items():
        print(f"{name:<24}{model.count_params():>8}{medians[name]:>10.0f}")
    for name, other, target in pairs:
        ratio = medians[name] / medians[other]
        verdict = "meets" if ratio >= target else "MISSES"
        print(
            f"{name} at {ratio:.2f}x the images/s of {other} "
            f"(target at least {target}x): {verdict} target"
        )


if __name__ == "__main__":
    main()
