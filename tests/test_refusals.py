"""Every reproduction of issue #16's "silently wrong" and "unclear" lists gives
a clear error naming the argument, or the right answer (NumPy scalars, empty
inputs). One row per reproduction; the expected words are the argument's name
and what was expected."""

import math

import keras
import numpy as np
import pytest

from cae_keras import (
    anomaly,
    data,
    fewlabels,
    kernels,
    metrics,
    models,
    numpy_ops,
    plots,
    reproduce,
    training,
)
from cae_keras.layers import MaxUnpooling2D, TiedConv2DTranspose, VariationalSampling
from cae_keras.layers.variational_sampling import kl_to_standard_normal

X8 = np.random.default_rng(0).random((1, 8, 8, 1)).astype("float32")
Z = np.zeros


def tied(source_shape, source=None, **kwargs):
    source = source or keras.layers.Conv2D(4, 3)
    source.build(source_shape)
    return TiedConv2DTranspose(source, **kwargs)


def cntk_model():
    return models.cntk_autoencoder()


REFUSED = {
    # Layers
    "tied output_padding >= strides": (
        lambda: tied((1, 8, 8, 1), keras.layers.Conv2D(4, 3, strides=2), output_padding=2),
        "`output_padding` must be smaller than `strides`",
    ),
    "tied rank-3 input": (
        lambda: tied((1, 8, 8, 1))(Z((6, 6, 4), "float32")),
        "takes a 4D tensor",
    ),
    "tied count_params before build": (
        lambda: TiedConv2DTranspose(keras.layers.Conv2D(4, 3)).count_params(),
        "isn.t built",  # Keras' own words: the shared kernel does not exist yet
    ),
    "sampling broadcast": (
        lambda: VariationalSampling()([Z((2, 3)), Z((1, 3))], training=True),
        "`mean` and `log_var` must have the same shape",
    ),
    "sampling broadcast, symbolic": (
        lambda: VariationalSampling()(
            [keras.Input((3,), batch_size=2), keras.Input((3,), batch_size=1)]
        ),
        "`mean` and `log_var` must have the same shape",
    ),
    "sampling one input": (
        lambda: VariationalSampling()(Z((4, 2))),
        "takes two inputs, \\[mean, log_var\\]",
    ),
    "kl broadcast": (
        lambda: kl_to_standard_normal(Z((2, 3)), Z((1, 3))),
        "`mean` and `log_var` must have the same shape",
    ),
    # Paired inputs
    "rmse batch broadcast": (
        lambda: metrics.per_image_rmse(Z((1, 4, 4, 1)), np.ones((3, 4, 4, 1))),
        "`y_true` and `y_pred` must have the same shape",
    ),
    "rmse channel broadcast": (
        lambda: metrics.per_image_rmse(Z((2, 4, 4, 1)), np.ones((2, 4, 4, 4))),
        "`y_true` and `y_pred` must have the same shape",
    ),
    "vjp cotangent broadcast": (
        lambda: kernels.vjp(lambda p: p * 2.0, [np.ones((2, 3), "float32")], np.ones((3, 3))),
        "`cotangent` must have the shape of `fn`'s output \\(2, 3\\)",
    ),
    "roc lengths": (lambda: anomaly.roc_auc([0.1, 0.2], [True, False, True]), "same length"),
    "scatter lengths": (
        lambda: plots.latent_scatter(Z((5, 2)), Z(4)),
        "`codes` and `labels` must have one entry per image",
    ),
    "histogram lengths": (
        lambda: plots.score_histograms(np.ones(3), np.array([True, False]), 0.5),
        "`scores` and `is_anomaly` must have one entry per image",
    ),
    "image rows labels": (
        lambda: plots.image_rows([[Z((2, 2))]], row_labels=["a", "b"]),
        "`row_labels` has 2 labels for 1 rows",
    ),
    # Values that mean nothing
    "psnr max 0": (lambda: metrics.psnr_per_image(X8, X8 * 0.5, max_value=0), "`max_value`"),
    "psnr max -1": (lambda: metrics.psnr_per_image(X8, X8 * 0.5, max_value=-1), "`max_value`"),
    "psnr max nan": (lambda: metrics.psnr_per_image(X8, X8, max_value=math.nan), "`max_value`"),
    "threshold nan": (
        lambda: anomaly.threshold_for([0.1, math.nan, 0.3]),
        "`normal_scores` must be finite",
    ),
    "histogram nan": (
        lambda: plots.score_histograms(np.array([0.1, np.nan, 0.3]), np.array([0, 1, 0]), 0.2),
        "`scores` must be finite",
    ),
    "mse of 0-pixel images": (
        lambda: metrics.mse_per_image(Z((2, 0, 0, 1)), Z((2, 0, 0, 1))),
        "`images` must be a batch of images with pixels",
    ),
    "noise on 0-255 images": (
        lambda: data.add_noise(np.full((2, 28, 28, 1), 200.0, "float32")),
        "`images` must have pixels in 0-1",
    ),
    "variant twice": (
        lambda: reproduce.check_variants(["two_layer"] * 2),
        "`variants` must name each item once",
    ),
    "sgd batch 0": (lambda: reproduce.cntk_momentum_sgd(batch_size=0), "`batch_size`"),
    "sgd batch -1": (lambda: reproduce.cntk_momentum_sgd(batch_size=-1), "`batch_size`"),
    "sgd lr -1": (lambda: reproduce.cntk_momentum_sgd(lr_per_sample=-1), "`lr_per_sample`"),
    "sgd time constant 0": (lambda: reproduce.cntk_momentum_sgd(time_constant=0), "`time_const"),
    "glorot -1": (lambda: reproduce.cntk_glorot_uniform(-1), "`scale`"),
    "total steps -10": (lambda: training.total_steps(100, -10, 1), "`batch_size`"),
    "total steps 0": (lambda: training.total_steps(100, 0, 1), "`batch_size`"),
    "first images -1": (
        lambda: reproduce.first_images(cntk_model(), Z((5, 28, 28, 1), "float32"), n=-1),
        "`n` must be a positive integer",
    ),
    "conv padding full": (
        lambda: numpy_ops.conv2d(Z((5, 5)), np.ones((3, 3)), padding="full"),
        "`padding` must be 'valid' or 'same'",
    ),
    "conv kernel larger than image": (
        lambda: numpy_ops.conv2d(Z((2, 2)), np.ones((3, 3))),
        "`kernel` of shape \\(3, 3\\) is larger than `x`",
    ),
    "conv strides 0": (
        lambda: numpy_ops.conv2d(Z((5, 5)), np.ones((3, 3)), strides=0),
        "`strides` must be a positive integer",
    ),
    "transpose strides 0": (
        lambda: numpy_ops.conv2d_transpose(Z((2, 2)), np.ones((3, 3)), strides=0),
        "`strides` must be a positive integer",
    ),
    # The right argument named, before any work
    "validation 0": (
        lambda: anomaly.held_out_split(3, data.load_mnist(limit=300), validation=0),
        "`validation` must be a share",
    ),
    "validation 1.5": (
        lambda: anomaly.held_out_split(3, data.load_mnist(limit=300), validation=1.5),
        "`validation` must be a share",
    ),
    "limit 5": (lambda: anomaly.held_out_split(3, data.load_mnist(limit=5)), "`limit` leaves"),
    "limit without the digit": (
        lambda: anomaly.held_out_split(3, data.load_mnist(limit=10)),
        "`limit` leaves 10 test images",
    ),
    "false alarm rate 1": (
        lambda: anomaly.run(digits=[3], false_alarm_rate=1.0, limit=300),
        "`false_alarm_rate`",
    ),
    "run_variant epochs 0": (
        lambda: reproduce.run_variant(
            "cmap1_pool4", Z((8, 28, 28, 1)), Z((8, 28, 28, 1)), epochs=0
        ),
        "`epochs` must be a positive integer",
    ),
    "sgd batch -1 names batch_size": (
        lambda: reproduce.cntk_momentum_sgd(batch_size=-1),
        "^`batch_size`",
    ),
    "initializers as a list": (
        lambda: models.cntk_autoencoder(initializers=["conv_kernel"]),
        "`initializers` must be None or a dict",
    ),
    "initializer unknown": (
        lambda: models.cntk_autoencoder(initializers={"conv_kernel": "nope"}),
        "`initializers\\['conv_kernel'\\]` must be a Keras initializer",
    ),
    # Found by a wider probe of the public API
    "code layer unknown": (
        lambda: models.encoder_of(models.small_encoder(), code_layer="nope"),
        "`code_layer` must name a layer",
    ),
    "accuracy lengths": (
        lambda: fewlabels.accuracy(
            models.classifier_on(models.small_encoder()), Z((4, 28, 28, 1)), Z(3)
        ),
        "`x` and `y` must hold one label per image",
    ),
    "decimals -1": (lambda: plots.encoding_text(Z((2, 2)), decimals=-1), "`decimals`"),
    "no curves": (lambda: plots.loss_curves({}), "`curves` holds no training curves"),
    "manifold n 0": (
        lambda: plots.latent_manifold(
            models.latent_autoencoder(2).get_layer("decoder"), [-1, -1], [1, 1], n=0
        ),
        "`n` must be a positive integer",
    ),
    "manifold low above high": (
        lambda: plots.latent_manifold(
            models.latent_autoencoder(2).get_layer("decoder"), [1, 1], [-1, -1]
        ),
        "`low` and `high` must be two corners",
    ),
    "matrices and titles": (
        lambda: plots.matrix_figure([Z((2, 2))], ["a", "b"]),
        "`matrices` and `titles` must pair up",
    ),
    "no accuracy rows": (lambda: plots.accuracy_vs_labels([]), "`rows` holds no results"),
    "all black of none": (lambda: reproduce.all_black_rmse(Z((0, 28, 28, 1))), "no images"),
    "visualiser counts": (
        lambda: reproduce.write_visualiser_text("/nonexistent", Z((5, 7, 7, 1)), Z((4, 28, 28, 1))),
        "`codes` and `reconstructions` must hold the same images",
    ),
    # Empty inputs
    "mean RMSE of no images": (
        lambda: metrics.evaluate_rmse(cntk_model(), Z((0, 28, 28, 1), "float32")),
        "`images` holds no images",
    ),
    "first images of none": (
        lambda: reproduce.first_images(cntk_model(), Z((0, 28, 28, 1), "float32")),
        "`images` holds no images",
    ),
    "train on a list of numbers": (
        lambda: reproduce.run_variant("cmap1_pool4", [[0.0] * 10], Z((8, 28, 28, 1)), epochs=1),
        "`x_train` must have shape \\(images, rows, cols, channels\\)",
    ),
    "train on a NaN pixel": (
        lambda: reproduce.run_variant(
            "cmap1_pool4", np.full((8, 28, 28, 1), np.nan), Z((8, 28, 28, 1)), epochs=1
        ),
        "`x_train` holds NaN",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_the_argument_named(name):
    call, message = REFUSED[name]
    with pytest.raises(ValueError, match=message):
        call()


def test_numpy_scalars_work_where_python_numbers_do():
    assert MaxUnpooling2D(np.int64(2)).pool_size == (2, 2)
    assert models.cntk_autoencoder(pool=np.int64(4)).count_params() == 51
    assert reproduce.single_layer_variant(np.int64(3), np.int64(4)).build().count_params() == 153
    x, y = Z((10, 2)), np.arange(10)
    (_, _), (x_val, _) = data.split_validation(x, y, np.float32(0.2))
    assert len(x_val) == 2
    record, _ = reproduce.run_variant(
        "cmap1_pool4", Z((8, 28, 28, 1)), Z((8, 28, 28, 1)), epochs=np.int64(1)
    )
    assert record["epochs"] == 1


def test_empty_inputs_give_empty_results():
    errors = anomaly.reconstruction_errors(cntk_model(), Z((0, 28, 28, 1), "float32"))
    assert errors.shape == (0,)
    assert metrics.mse_per_image(Z((0, 4, 4, 1)), Z((0, 4, 4, 1))).shape == (0,)


def test_a_python_list_of_images_is_converted():
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    record, _ = reproduce.run_variant("cmap1_pool4", images.tolist(), images.tolist(), epochs=1)
    assert np.isfinite(record["train_rmse"])
