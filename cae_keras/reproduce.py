"""CNTK's 07_Deconvolution settings, trained and measured side by side.

`VARIANTS` lists every setting with CNTK's published RMSE (train / test, pixels
scaled by 1/256) where the page gives one, and the test RMSE our defaults must
reach. `run_variant` trains one; `reproduce` trains a list and returns one
record per variant, the rows of `python -m cae_keras reproduce`.
"""

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from cae_keras import models
from cae_keras.metrics import evaluate_rmse
from cae_keras.plots import encoding_text
from cae_keras.training import seed_everything, train_autoencoder


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

#: Training settings of `reproduce` (Adam; CNTK used momentum SGD).
DEFAULTS = {"epochs": 4, "batch_size": 128, "learning_rate": 1e-2, "seed": 0}


def check_variants(names):
    """The `Variant`s named, in order, or a clear error naming the unknown."""
    if isinstance(names, str):
        names = [names]
    names = list(names)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise ValueError(
            f"`variants` must be a non-empty list of {sorted(VARIANTS)}, "
            f"got {names!r}" + (f" (unknown: {unknown})." if unknown else ".")
        )
    return [VARIANTS[n] for n in names]


def run_variant(variant, x_train, x_test, *, epochs, batch_size, learning_rate, seed, verbose=0):
    """Build, train and measure one variant.

    Returns:
        `(record, model, history)`: the record holds `variant`, `description`,
        `code_shape`, `params`, `cntk_train_rmse`, `cntk_test_rmse`,
        `target_test_rmse`, `train_rmse`, `test_rmse`, `seconds` (training
        time) and `meets_target`.
    """
    seed_everything(seed)
    model = variant.build()
    start = time.perf_counter()
    history = train_autoencoder(
        model,
        x_train,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    code = models.encoder_of(model).output.shape[1:]
    test_rmse = evaluate_rmse(model, x_test)
    record = {
        "variant": variant.name,
        "description": variant.description,
        "code_shape": "x".join(str(d) for d in code),
        "params": int(model.count_params()),
        "cntk_train_rmse": variant.cntk_train,
        "cntk_test_rmse": variant.cntk_test,
        "target_test_rmse": variant.target_test,
        "train_rmse": evaluate_rmse(model, x_train),
        "test_rmse": test_rmse,
        "seconds": round(seconds, 1),
        "meets_target": None if variant.target_test is None else test_rmse <= variant.target_test,
    }
    return record, model, history


def format_table(records, targets=True):
    """The records as a plain-text table, one line per variant.

    Args:
        records: records from `run_variant`.
        targets: whether to show the target test RMSE and the verdict; they
            apply to `reproduce`'s full-size defaults only.
    """
    head = (
        f"{'variant':<22}{'code':>8}{'params':>8}{'CNTK train':>12}{'CNTK test':>11}"
        f"{'ours train':>12}{'ours test':>11}{'seconds':>9}"
    )
    if targets:
        head += f"{'target':>8}  verdict"
    lines = [head, "-" * len(head)]

    def num(v):
        return "-" if v is None else f"{v:.3f}"

    for r in records:
        line = (
            f"{r['variant']:<22}{r['code_shape']:>8}{r['params']:>8}"
            f"{num(r['cntk_train_rmse']):>12}{num(r['cntk_test_rmse']):>11}"
            f"{num(r['train_rmse']):>12}{num(r['test_rmse']):>11}{r['seconds']:>9.1f}"
        )
        if targets:
            verdict = {None: "", True: "meets target", False: "MISSES target"}[r["meets_target"]]
            line += f"{num(r['target_test_rmse']):>8}  {verdict}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def first_images(model, images, n=5):
    """Code and reconstruction of the first `n` images, as NumPy arrays."""
    codes = models.encoder_of(model).predict(images[:n], verbose=0)
    return np.asarray(codes), np.asarray(model.predict(images[:n], verbose=0))


def write_visualiser_text(folder, codes, reconstructions, prefix=""):
    """Write CNTK's visualiser text files: `encoder_output.txt`, `decoder_output.txt`.

    Each holds one block per image, headed `# test image N`, in the format of
    `plots.encoding_text`.

    Returns:
        The two paths written.
    """
    paths = []
    for name, arrays in (("encoder_output.txt", codes), ("decoder_output.txt", reconstructions)):
        blocks = [f"# test image {i}\n" + encoding_text(a) for i, a in enumerate(arrays)]
        path = Path(folder) / f"{prefix}{name}"
        path.write_text("\n\n".join(blocks) + "\n")
        paths.append(path)
    return paths


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
