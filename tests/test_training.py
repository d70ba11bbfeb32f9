"""`train_autoencoder` and `load_mnist` refuse nonsense before any training."""

import numpy as np
import pytest

from cae_keras import data, models
from cae_keras.training import train_autoencoder

IMAGES = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        train_autoencoder(models.cntk_autoencoder(), IMAGES, **kwargs)


def test_an_encoder_is_not_trained_as_an_autoencoder():
    encoder, _, _ = models.latent_autoencoder()
    with pytest.raises(ValueError, match="`model` maps images to shape \\(1, 1, 2\\)"):
        train_autoencoder(encoder, IMAGES, loss="mse")


def test_a_nan_pixel_is_refused():
    images = IMAGES.copy()
    images[3, 5, 5, 0] = np.nan
    with pytest.raises(ValueError, match="`x_train` holds NaN"):
        train_autoencoder(models.cntk_autoencoder(), images)


@pytest.mark.parametrize("scale", [float("inf"), 1e-40, 0.0, -1.0, float("nan"), True, "255"])
def test_load_mnist_refuses_scales_that_break_the_pixels(scale):
    with pytest.raises(ValueError, match="`scale`"):
        data.load_mnist(limit=10, scale=scale)


def test_load_mnist_takes_a_numpy_scale():
    (x, _), _ = data.load_mnist(limit=10, scale=np.float32(255))
    assert x.max() == 1.0
