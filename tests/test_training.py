"""Training settings and `load_mnist` refuse nonsense before any training;
`LossCurve` records the right curve; no helper reseeds the global streams."""

import keras
import numpy as np
import pytest

from cae_keras import checks, data, reproduce
from cae_keras.training import LossCurve

IMAGES = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize(
    "kwargs,name",
    [({"epochs": 0}, "epochs"), ({"loss": "msee"}, "loss"), ({"recipe": "adam"}, "recipes")],
)
def test_bad_settings_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        reproduce.run_variant("cmap1_pool4", IMAGES, IMAGES, **kwargs)


@pytest.mark.parametrize("scale", [float("inf"), 1e-40, 0.0, -1.0, float("nan"), True, "255"])
def test_load_mnist_refuses_scales_that_break_the_pixels(scale):
    with pytest.raises(ValueError, match="`scale`"):
        data.load_mnist(limit=10, scale=scale)


def test_load_mnist_takes_a_numpy_scale():
    (x, _), _ = data.load_mnist(limit=10, scale=np.float32(255))
    assert x.max() == 1.0


def _frozen_model():
    # Learning rate zero: the weights never move, so each batch's loss is known
    # in advance from NumPy, and the curve can be checked against it.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    return model


@pytest.mark.parametrize("batches,points,marks", [(10, 5, [2, 4, 6, 8, 10]), (7, 3, [2, 5, 7])])
def test_loss_curve_records_window_means_several_times_an_epoch(batches, points, marks):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batches * 8, 4)).astype("float32")
    x_val = rng.normal(size=(16, 4)).astype("float32")
    model = _frozen_model()
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    per_batch = ((x @ kernel - x) ** 2).mean(axis=1).reshape(batches, 8).mean(axis=1)
    curve = LossCurve(points_per_epoch=points)
    model.fit(
        x,
        x,
        batch_size=8,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[curve],
        validation_data=(x_val, x_val),
    )
    starts = [0, *marks[:-1]]
    windows = [per_batch[a:b].mean() for a, b in zip(starts, marks)]
    np.testing.assert_allclose(curve.losses, windows * 2, rtol=1e-5)
    expected_x = [m / batches for m in marks] + [1 + m / batches for m in marks]
    np.testing.assert_allclose(curve.epochs, expected_x)
    assert curve.val_epochs == [1, 2]
    val = ((x_val @ kernel - x_val) ** 2).mean()
    np.testing.assert_allclose(curve.val_losses, [val, val], rtol=1e-5)


@pytest.mark.parametrize(
    "check,args,message",
    [
        (checks.positive_int, ("epochs", 0), "`epochs` must be a positive integer, got 0"),
        (checks.positive_int, ("epochs", 2.0), "`epochs`"),
        (
            checks.positive_int,
            ("latent_dim", 1, 2),
            "`latent_dim` must be an integer of at least 2",
        ),
        (checks.optional_limit, ("limit", 0), "`limit` must be a positive integer or None"),
        (checks.positive_number, ("learning_rate", float("inf")), "`learning_rate`"),
        (checks.rate, ("dropout", 1.0), "`dropout` must be a number in \\[0, 1\\)"),
        (checks.digits, (7.5,), "`digits` must be a list"),
        (checks.digits, ("[0, 1, 7]",), '-y "digits: \\[1, 5, 6\\]"'),
        (checks.digits, ([3, 3], "digits", 2), "at least 2 different"),
        (checks.digit, ("anomaly", 10), "`anomaly` must be one digit"),
        (checks.index, ("digit_index", 60000, 60000), "0..59999 \\(there are 60000 images\\)"),
        (checks.choice, ("recipe", "adam", {"ours", "cntk"}), "`recipe` must be one of"),
        (checks.point, ("point", [1.0, 2.0, 3.0], 2), "`point` must be None or a list of 2"),
        (checks.point, ("point", "[1, 2]", 2), "-y"),
        (checks.point, ("point", [1.0, float("nan")], 2), "finite"),
    ],
)
def test_checks_name_the_argument_and_what_was_expected(check, args, message):
    with pytest.raises(ValueError, match=message):
        check(*args)


def test_checks_return_normalised_values():
    assert checks.digits(7) == [7] and checks.digits((6, 1, 5, 1)) == [1, 5, 6]
    assert checks.digits(np.array([2, 0])) == [0, 2]
    assert checks.optional_limit("limit", None) is None
    np.testing.assert_array_equal(checks.point("point", (1, 2), 2), [1.0, 2.0])
    assert checks.point("point", None, 2) is None


def _next_draws_after(helper, global_seed):
    """NumPy's and Keras' next draws after `helper()` ran from `global_seed`."""
    keras.utils.set_random_seed(global_seed)
    helper()
    backend = keras.random.uniform((3,), seed=None)
    return np.random.random(3), keras.ops.convert_to_numpy(backend)  # noqa: NPY002 (the global stream is the point)


def _helpers():
    from cae_keras import fewlabels, segment

    rng = np.random.default_rng(0)
    x = rng.random((16, 28, 28, 1)).astype("float32")
    y = np.arange(16) % 10
    scenes = rng.random((4, 32, 32, 1)).astype("float32")
    masks = rng.integers(0, 11, (4, 32, 32)).astype("uint8")
    fit = {"epochs": 1, "verbose": 0}
    return {
        "segment._run_model": lambda: segment._run_model(
            "upsample", (scenes, masks), {}, batch_size=4, widths=(4,), convs=1, **fit
        ),
        "run_variant": lambda: reproduce.run_variant("cmap1_pool4", x, x, epochs=1),
        "pretrain": lambda: fewlabels._pretrain(x, "denoising", latent_dim=4, epochs=1),
        "train_classifier": lambda: fewlabels._train_classifier(
            "scratch", x, y, x, y, latent_dim=4, steps=2, evaluations=1
        ),
        "linear_autoencoder_vs_pca": lambda: fewlabels.linear_autoencoder_vs_pca(x, 2, epochs=1),
    }


@pytest.mark.parametrize("name", list(_helpers()))
def test_no_helper_reseeds_the_global_generators(name):
    # A helper that seeds inside would leave the global streams where its own
    # seed puts them, whatever the student seeded before: the draws after it
    # would not depend on the seed set before the call.
    helper = _helpers()[name]
    numpy_a, keras_a = _next_draws_after(helper, 1)
    numpy_b, keras_b = _next_draws_after(helper, 2)
    assert not np.array_equal(numpy_a, numpy_b)
    assert not np.array_equal(keras_a, keras_b)
    # and one seed, set once before the call, repeats everything after it
    numpy_c, keras_c = _next_draws_after(helper, 1)
    np.testing.assert_array_equal(numpy_a, numpy_c)
    np.testing.assert_array_equal(keras_a, keras_c)
