"""Benchmark: training images per second of every model, on this CPU.

    python benchmarks/training.py [--images 10000] [--batch-size 128]

Each model trains one warm-up epoch (tracing, and XLA compilation for the full
and the last, partial batch), then one timed epoch; the figure is images per
second of that epoch. Printed, never asserted.
"""

import argparse
import time

import keras

from cae_keras import data, models
from cae_keras.reproduce import VARIANTS
from cae_keras.training import seed_everything, train_autoencoder


def builders():
    for name, variant in VARIANTS.items():
        yield name, variant.build, "rmse"
    yield "latent_2d", lambda: models.latent_autoencoder()[2], "mse"
    yield "tied", lambda: models.tied_autoencoder(tied=True), "mse"
    yield "untied", lambda: models.tied_autoencoder(tied=False), "mse"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    (x_train, _), _ = data.load_mnist(limit=args.images, scale=256.0)
    print(f"Keras {keras.__version__}, {len(x_train)} images, batch {args.batch_size}")
    print(f"{'model':<24}{'params':>8}{'images/s':>10}")
    for name, build, loss in builders():
        seed_everything(0)
        model = build()
        train_autoencoder(
            model, x_train, epochs=1, batch_size=args.batch_size, loss=loss, verbose=0
        )
        start = time.perf_counter()
        model.fit(x_train, x_train, epochs=1, batch_size=args.batch_size, verbose=0)
        rate = len(x_train) / (time.perf_counter() - start)
        print(f"{name:<24}{model.count_params():>8}{rate:>10.0f}")


if __name__ == "__main__":
    main()
