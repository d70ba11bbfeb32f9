"""CNTK's RMSE: mean over images of each image's RMSE."""

import keras
import numpy as np

from cae_keras.metrics import (
    PerImageRMSE,
    evaluate_rmse,
    mse_per_image,
    per_image_rmse,
)


def hand_example():
    images = np.zeros((2, 2, 2, 1), "float32")
    reconstructions = np.stack([np.full((2, 2, 1), 1.0), np.full((2, 2, 1), 3.0)]).astype("float32")
    return images, reconstructions


def test_per_image_then_mean_not_global():
    images, recon = hand_example()
    per = keras.ops.convert_to_numpy(per_image_rmse(images, recon))
    np.testing.assert_allclose(per, [1.0, 3.0])
    np.testing.assert_allclose(np.sqrt(mse_per_image(images, recon)), [1.0, 3.0])
    # CNTK's number is the mean, 2; the RMSE of the whole set is sqrt(5).
    assert per.mean() == 2.0
    np.testing.assert_allclose(np.sqrt(np.mean((images - recon) ** 2)), np.sqrt(5.0))


def test_metric_accumulates_over_batches_by_image():
    images, recon = hand_example()
    metric = PerImageRMSE()
    metric.update_state(images[:1], recon[:1])
    metric.update_state(images[1:], recon[1:])
    assert float(metric.result()) == 2.0
    assert PerImageRMSE.from_config(metric.get_config()).name == "rmse"


def test_loss_in_a_model_equals_the_numpy_evaluation():
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1)).astype("float32")
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))
    model.compile(loss=per_image_rmse, metrics=[PerImageRMSE()])
    loss, metric = model.evaluate(x, x, batch_size=16, verbose=0)
    expected = np.sqrt(mse_per_image(x, model.predict(x, verbose=0))).mean()
    np.testing.assert_allclose([loss, metric, evaluate_rmse(model, x)], expected, rtol=1e-5)


def test_rmse_gradient_is_finite_at_zero_error_and_exact_elsewhere():
    from cae_keras import kernels

    rng = np.random.default_rng(0)
    images = rng.random((3, 4, 4, 1)).astype("float32")
    recon = images.copy()
    recon[1] += rng.normal(size=(4, 4, 1)).astype("float32")  # only image 1 is off
    recon[2] = 0.0
    images[2] = 0.0  # a black image, reconstructed exactly by a dead model
    value = keras.ops.convert_to_numpy(per_image_rmse(images, recon))
    np.testing.assert_array_equal(value[[0, 2]], [0.0, 0.0])
    (grad,) = kernels.vjp(lambda r: per_image_rmse(images, r), [recon], np.ones(3, "float32"))
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad[[0, 2]], 0.0)
    # d sqrt(mean(e**2)) / d recon = (recon - images) / (n * rmse), by hand.
    error = recon[1] - images[1]
    expected = error / (error.size * np.sqrt(np.mean(error**2)))
    np.testing.assert_allclose(grad[1], expected, rtol=1e-5, atol=1e-7)
