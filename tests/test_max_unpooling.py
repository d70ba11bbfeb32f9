"""MaxUnpooling2D against a NumPy reference, hand-worked examples and Keras'
own machinery (config, symbolic and eager calls, training, saving)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cae_keras import numpy_ops
from cae_keras.layers import MaxUnpooling2D
from tests.layer_testing import reload_in_fresh_process, run_layer_test


def reference(pooled, pool_input, pool_size, strides, padding):
    """NumPy loops, one image and channel at a time."""
    b, _, _, c = pool_input.shape
    return np.stack(
        [
            np.stack(
                [
                    numpy_ops.max_unpool2d(
                        pooled[i, :, :, j],
                        pool_input[i, :, :, j],
                        pool_size,
                        strides,
                        padding,
                    )
                    for j in range(c)
                ],
                axis=-1,
            )
            for i in range(b)
        ]
    )


def pooled_shape(shape, pool_size, strides, padding):
    pool = keras.layers.MaxPooling2D(pool_size, strides, padding)
    return pool.compute_output_shape(shape)


def unpool(pooled, pool_input, pool_size, strides=None, padding="valid"):
    layer = MaxUnpooling2D(pool_size, strides, padding)
    return keras.ops.convert_to_numpy(layer([pooled, pool_input]))


CASES = [
    # (rows, cols, pool_size, strides, padding)
    (4, 4, 2, None, "valid"),
    (28, 28, 4, None, "valid"),
    (7, 7, 2, None, "valid"),  # odd: last row and column uncovered
    (7, 9, 2, None, "same"),  # odd: padded windows
    (8, 8, 2, None, "same"),
    (9, 9, 3, 2, "valid"),  # overlapping windows
    (10, 7, 3, 2, "same"),  # overlapping and padded
    (6, 6, 2, 1, "valid"),  # heavy overlap
    (9, 9, 2, 3, "valid"),  # gaps between windows
    (6, 8, (2, 4), (2, 4), "valid"),  # non-square
]


@pytest.mark.parametrize("rows,cols,pool_size,strides,padding", CASES)
def test_matches_numpy_reference_with_ties(rows, cols, pool_size, strides, padding):
    rng = np.random.default_rng(rows * 100 + cols)
    # Values from {0, 1, 2} make ties in almost every window.
    pool_input = rng.integers(0, 3, size=(2, rows, cols, 3)).astype("float32")
    shape = pooled_shape(pool_input.shape, pool_size, strides, padding)
    pooled = rng.normal(size=shape).astype("float32")  # any values, not just the maxima
    expected = reference(pooled, pool_input, pool_size, strides, padding)
    got = unpool(pooled, pool_input, pool_size, strides, padding)
    assert got.shape == pool_input.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_square_cases_agree_with_numpy_ops_reference():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 7, 9, 2)).astype("float32")
    for pool_size, strides, padding in [
        (2, None, "same"),
        (3, 2, "valid"),
        (3, 1, "same"),
    ]:
        pooled = rng.normal(size=pooled_shape(x.shape, pool_size, strides, padding)).astype(
            "float32"
        )
        np.testing.assert_allclose(
            unpool(pooled, x, pool_size, strides, padding),
            reference(pooled, x, pool_size, strides, padding),
            rtol=1e-6,
            atol=1e-6,
        )


def test_hand_worked_4x4():
    x = np.array([[1, 2, 0, 0], [3, 4, 0, 5], [6, 0, 7, 7], [0, 0, 7, 7]], "float32").reshape(
        1, 4, 4, 1
    )
    pooled = keras.ops.convert_to_numpy(keras.layers.MaxPooling2D(2)(x))
    expected = np.array([[0, 0, 0, 0], [0, 4, 0, 5], [6, 0, 7, 0], [0, 0, 0, 0]], "float32")
    np.testing.assert_array_equal(unpool(pooled, x, 2)[0, :, :, 0], expected)


def test_all_zero_windows_after_relu_give_one_value_per_window():
    x = np.zeros((1, 4, 4, 1), "float32")
    pooled = np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1)
    got = unpool(pooled, x, 2)[0, :, :, 0]
    # Exactly the first (top-left) cell of each window, not all four.
    expected = np.array([[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]], "float32")
    np.testing.assert_array_equal(got, expected)


def test_ties_pick_what_max_pool_with_argmax_picks():
    rng = np.random.default_rng(2)
    x = tf.nn.relu(rng.normal(size=(3, 12, 12, 4)).astype("float32")).numpy()
    x[:, :4, :4, :] = 0.0  # whole windows of zeros
    pooled, argmax = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID", include_batch_in_index=True)
    switches = (
        tf.scatter_nd(tf.reshape(argmax, (-1, 1)), tf.reshape(pooled, (-1,)), [x.size])
        .numpy()
        .reshape(x.shape)
    )
    np.testing.assert_array_equal(unpool(pooled.numpy(), x, 2), switches)


def test_overlapping_windows_add_up():
    # The centre is the maximum of all four 2x2 windows of a 3x3 input.
    x = np.array([[0, 1, 0], [1, 9, 1], [0, 1, 0]], "float32").reshape(1, 3, 3, 1)
    pooled = np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1)
    got = unpool(pooled, x, 2, strides=1)[0, :, :, 0]
    expected = np.zeros((3, 3), "float32")
    expected[1, 1] = 10.0
    np.testing.assert_array_equal(got, expected)


def test_valid_padding_leaves_uncovered_cells_zero():
    x = np.arange(1, 26, dtype="float32").reshape(1, 5, 5, 1)
    pooled = np.ones((1, 2, 2, 1), "float32")
    got = unpool(pooled, x, 2)[0, :, :, 0]
    assert got[4].sum() == 0 and got[:, 4].sum() == 0
    assert got.sum() == 4.0


def test_gradient_is_upstream_at_the_chosen_positions():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 9, 9, 2)).astype("float32")
    pooled = tf.constant(rng.normal(size=(2, 4, 4, 2)).astype("float32"))
    pool_input = tf.constant(x)
    upstream = rng.normal(size=x.shape).astype("float32")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([pooled, pool_input])
        out = MaxUnpooling2D(3, strides=2)([pooled, pool_input])
        loss = tf.reduce_sum(out * upstream)
    grad = tape.gradient(loss, pooled).numpy()
    expected = np.zeros_like(grad)
    for b in range(2):
        for c in range(2):
            _, switches = numpy_ops.max_pool2d(x[b, :, :, c], 3, 2)
            for (i, j), _ in np.ndenumerate(switches[:, :, 0]):
                expected[b, i, j, c] = upstream[b, switches[i, j, 0], switches[i, j, 1], c]
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    grad_input = tape.gradient(loss, pool_input)
    assert grad_input is None or not np.any(grad_input.numpy())


@pytest.mark.parametrize("channels", [1, 3, 17])
def test_unknown_batch_size_and_any_channels(channels):
    layer = MaxUnpooling2D(2)

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, 3, 3, channels)),
            tf.TensorSpec((None, 6, 6, channels)),
        ]
    )
    def run(pooled, x):
        return layer([pooled, x])

    rng = np.random.default_rng(channels)
    for batch in (1, 5):
        x = rng.normal(size=(batch, 6, 6, channels)).astype("float32")
        pooled = rng.normal(size=(batch, 3, 3, channels)).astype("float32")
        np.testing.assert_allclose(
            run(pooled, x).numpy(), reference(pooled, x, 2, None, "valid"), rtol=1e-6
        )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision(dtype):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 4, size=(2, 8, 8, 3)).astype("float32")
    pooled = rng.integers(1, 9, size=(2, 4, 4, 3)).astype("float32")
    layer = MaxUnpooling2D(2, dtype=dtype)
    out = layer([keras.ops.cast(pooled, dtype), keras.ops.cast(x, dtype)])
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    # Small integers are exact in both formats.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")),
        reference(pooled, x, 2, None, "valid"),
    )


def test_mixed_float16_policy_model():
    keras.config.set_dtype_policy("mixed_float16")
    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(2, 3, padding="same", activation="relu")(inputs)
    pooled = keras.layers.MaxPooling2D(2)(conv)
    out = MaxUnpooling2D(2)([pooled, conv])
    model = keras.Model(inputs, keras.layers.Conv2DTranspose(1, 3, padding="same")(out))
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(5).random((4, 8, 8, 1)).astype("float32")
    history = model.fit(x, x, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_eager_tf_function_and_xla_agree():
    rng = np.random.default_rng(6)
    x = tf.constant(rng.integers(0, 3, size=(3, 10, 10, 2)).astype("float32"))
    for pool_size, strides, padding in [(2, None, "valid"), (3, 2, "same")]:
        layer = MaxUnpooling2D(pool_size, strides, padding)
        pooled = tf.nn.max_pool2d(x, pool_size, strides or pool_size, padding.upper())
        eager = layer([pooled, x]).numpy()
        graph = tf.function(layer)([pooled, x]).numpy()
        xla = tf.function(layer, jit_compile=True)([pooled, x]).numpy()
        np.testing.assert_array_equal(graph, eager)
        np.testing.assert_allclose(xla, eager, rtol=1e-6)
        np.testing.assert_allclose(
            eager,
            reference(pooled.numpy(), x.numpy(), pool_size, strides, padding),
            rtol=1e-6,
        )


def test_standard_layer_checks(tmp_path):
    run_layer_test(
        MaxUnpooling2D,
        {"pool_size": (2, 2), "strides": None, "padding": "valid"},
        input_shapes=[(3, 8, 8, 4)],
        expected_output_shape=(3, 8, 8, 4),
        tmp_path=tmp_path,
        input_fn=lambda xs: [keras.layers.MaxPooling2D(2)(xs[0]), xs[0]],
    )


def test_get_config_holds_every_argument():
    config = MaxUnpooling2D((3, 2), strides=(1, 2), padding="SAME", name="u").get_config()
    assert config["pool_size"] == (3, 2)
    assert config["strides"] == (1, 2)
    assert config["padding"] == "same"
    assert config["name"] == "u"
    assert MaxUnpooling2D(4).get_config()["strides"] == (4, 4)


def test_keras_file_reloads_in_a_fresh_process(tmp_path):
    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(3, 3, padding="same", activation="relu")(inputs)
    pooled = keras.layers.MaxPooling2D(2)(conv)
    out = keras.layers.Conv2DTranspose(1, 3, padding="same")(MaxUnpooling2D(2)([pooled, conv]))
    model = keras.Model(inputs, out)
    x = np.random.default_rng(7).random((2, 8, 8, 1)).astype("float32")
    stdout = reload_in_fresh_process(model, x, tmp_path, check="type(model.layers[3]).__module__")
    assert "cae_keras.layers.max_unpooling2d" in stdout


@pytest.mark.parametrize(
    "inputs,message",
    [
        (lambda: keras.Input((4, 4, 1)), "list of two tensors"),
        (lambda: [keras.Input((2, 2, 1))], "list of two tensors"),
        (lambda: [keras.Input((2, 2)), keras.Input((4, 4))], "4D tensor"),
        (lambda: [keras.Input((2, 2, 3)), keras.Input((4, 4, 2))], "3 channels"),
        (lambda: [keras.Input((3, 3, 1)), keras.Input((4, 4, 1))], "(batch, 2, 2, 1)"),
    ],
)
def test_bad_inputs_are_refused_at_build_time(inputs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MaxUnpooling2D(2)(inputs())


def test_wrong_pooled_shape_names_both_shapes():
    with pytest.raises(ValueError) as error:
        MaxUnpooling2D(4)([keras.Input((14, 14, 1)), keras.Input((28, 28, 1))])
    text = str(error.value)
    assert "(None, 14, 14, 1)" in text and "(None, 28, 28, 1)" in text and "7, 7" in text


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"pool_size": 0}, "pool_size"),
        ({"pool_size": (2, 2, 2)}, "pool_size"),
        ({"strides": -1}, "strides"),
        ({"padding": "full"}, "padding"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        MaxUnpooling2D(**kwargs)
