"""MaxUnpooling2D against a NumPy reference, hand-worked examples and Keras'
own machinery (config, symbolic and eager calls, training, saving).

Backend-neutral: `tests/test_backends.py` runs this file again under JAX and
PyTorch; the few TensorFlow-only checks say so in their skip reason.
"""

import keras
import numpy as np
import pytest

from cae_keras import kernels, numpy_ops
from cae_keras.layers import MaxUnpooling2D
from tests.layer_testing import reload_in_fresh_process, run_layer_test

BACKEND = keras.backend.backend()
tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="checks a TensorFlow API (tf.function, XLA, argmax)"
)


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


@tensorflow_only
def test_ties_pick_what_max_pool_with_argmax_picks():
    import tensorflow as tf

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
    pooled = rng.normal(size=(2, 4, 4, 2)).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    layer = MaxUnpooling2D(3, strides=2)
    grad, grad_input = kernels.vjp(lambda p, x_: layer([p, x_]), [pooled, x], upstream)
    expected = np.zeros_like(grad)
    for b in range(2):
        for c in range(2):
            _, switches = numpy_ops.max_pool2d(x[b, :, :, c], 3, 2)
            for (i, j), _ in np.ndenumerate(switches[:, :, 0]):
                expected[b, i, j, c] = upstream[b, switches[i, j, 0], switches[i, j, 1], c]
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    assert not np.any(grad_input)


@tensorflow_only
@pytest.mark.parametrize("channels", [1, 3, 17])
def test_unknown_batch_size_and_any_channels(channels):
    import tensorflow as tf

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


@tensorflow_only
def test_eager_tf_function_and_xla_agree():
    import tensorflow as tf

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


# -- any image size ------------------------------------------------------------


def fully_convolutional(padding):
    """Conv -> pool -> unpool -> conv on images of any size."""
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    pooled = keras.layers.MaxPooling2D(2, padding=padding, name="pool")(conv)
    unpooled = MaxUnpooling2D(2, padding=padding, name="unpool")([pooled, conv])
    out = keras.layers.Conv2D(1, 1, name="head")(unpooled)
    return keras.Model(inputs, [conv, pooled, unpooled, out])


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_one_model_runs_on_images_of_any_size(padding, tmp_path):
    model = fully_convolutional(padding)
    assert tuple(model.get_layer("unpool").output.shape) == (None, None, None, 4)
    rng = np.random.default_rng(10)
    for rows, cols in [(28, 28), (32, 48), (61, 47)]:
        x = rng.normal(size=(2, rows, cols, 3)).astype("float32")
        conv, pooled, unpooled, _ = (keras.ops.convert_to_numpy(t) for t in model(x))
        assert unpooled.shape == (2, rows, cols, 4)
        np.testing.assert_allclose(
            unpooled, reference(pooled, conv, 2, None, padding), rtol=1e-6, atol=1e-6
        )
    model.save(tmp_path / "any_size.keras")
    reloaded = keras.saving.load_model(tmp_path / "any_size.keras")
    x = rng.normal(size=(1, 61, 47, 3)).astype("float32")
    for a, b in zip(reloaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)


def test_compiled_fit_on_unknown_sizes():
    model = fully_convolutional("same")
    trainable = keras.Model(model.input, model.outputs[-1])
    trainable.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(11)
    for rows, cols in [(12, 12), (9, 14)]:
        x = rng.normal(size=(4, rows, cols, 3)).astype("float32")
        history = trainable.fit(x, x[..., :1], epochs=1, batch_size=4, verbose=0)
        assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_empty_batch(padding):
    # (TensorFlow's own Conv2D fails on an empty batch, so no conv here.)
    inputs = keras.Input((None, None, 2))
    pooled = keras.layers.MaxPooling2D(2, padding=padding)(inputs)
    model = keras.Model(inputs, MaxUnpooling2D(2, padding=padding)([pooled, inputs]))
    assert model(np.zeros((0, 9, 7, 2), "float32")).shape == (0, 9, 7, 2)
    layer = MaxUnpooling2D(2, padding=padding)
    pooled = np.zeros((0, 5 if padding == "same" else 4, 4 if padding == "same" else 3, 2))
    out = layer([pooled.astype("float32"), np.zeros((0, 9, 7, 2), "float32")])
    assert tuple(out.shape) == (0, 9, 7, 2)


def test_compute_output_shape_with_unknown_dimensions():
    layer = MaxUnpooling2D(2, padding="same")
    assert layer.compute_output_shape([(None, None, None, 3), (None, None, None, 3)]) == (
        None,
        None,
        None,
        3,
    )
    assert layer.compute_output_shape([(5, 4, None, 3), (None, 7, None, None)]) == (5, 7, None, 3)
    with pytest.raises(ValueError, match="gives"):
        layer.compute_output_shape([(None, 3, None, 3), (None, 7, None, 3)])


# -- batch mismatch ------------------------------------------------------------


def test_batch_mismatch_is_refused_at_build_time():
    with pytest.raises(ValueError, match="batch size 1 but `pool_input` has 2"):
        MaxUnpooling2D(2)(
            [keras.Input((2, 2, 1), batch_size=1), keras.Input((4, 4, 1), batch_size=2)]
        )


def test_batch_mismatch_is_refused_at_run_time():
    pooled = np.ones((1, 2, 2, 1), "float32")
    x = np.zeros((2, 4, 4, 1), "float32")
    with pytest.raises(ValueError, match="batch size 1 but `pool_input` has 2"):
        MaxUnpooling2D(2)([pooled, x])


@tensorflow_only
@pytest.mark.parametrize(
    "pooled_shape,input_shape",
    [
        ((1, 2, 2, 1), (2, 4, 4, 1)),  # batch
        ((1, 2, 8, 1), (1, 8, 8, 1)),  # rows and columns, the same number of values
        ((1, 4, 2, 2), (1, 8, 8, 1)),  # channels, the same number of values
        ((1, 3, 3, 1), (1, 8, 8, 1)),  # rows and columns off by one
    ],
)
def test_a_mismatch_known_only_at_run_time_is_refused_in_a_graph(pooled_shape, input_shape):
    # Sizes unknown when traced: the kernel checks them when they are known,
    # never reshaping `pooled` into the shape pooling `pool_input` gives.
    import tensorflow as tf

    layer = MaxUnpooling2D(2)
    spec = [tf.TensorSpec((None, None, None, None))] * 2
    run = tf.function(lambda p, x: layer([p, x]), input_signature=spec)
    assert run(np.ones((1, 4, 4, 1), "float32"), np.zeros((1, 8, 8, 1), "float32")).shape == (
        1,
        8,
        8,
        1,
    )
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="`pooled` must have the batch, rows, columns"
    ):
        run(np.ones(pooled_shape, "float32"), np.zeros(input_shape, "float32"))


def test_a_mismatch_after_retracing_a_model_of_any_size_is_refused():
    # The reproduction: a model on unknown sizes, used on several
    # sizes (Keras retraces), then given a `pooled` of the wrong shape.
    pooled, pool_input = keras.Input((None, None, 1)), keras.Input((None, None, 1))
    model = keras.Model([pooled, pool_input], MaxUnpooling2D(2)([pooled, pool_input]))
    for size in (4, 6, 8):
        half = np.ones((1, size // 2, size // 2, 1), "float32")
        model.predict([half, np.ones((1, size, size, 1), "float32")], verbose=0)
    with pytest.raises(Exception, match="`pooled` must have the batch, rows, columns"):
        model.predict(
            [np.ones((1, 2, 8, 1), "float32"), np.ones((1, 8, 8, 1), "float32")],
            verbose=0,
        )


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "uint8"])
def test_integer_and_bool_maps_are_unpooled_as_floats(dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2 if dtype == "bool" else 9, (2, 6, 6, 3)).astype(dtype)
    pooled = x.reshape(2, 3, 2, 3, 2, 3).max(axis=(2, 4))
    got = keras.ops.convert_to_numpy(MaxUnpooling2D(2)([pooled, x]))
    assert got.dtype == np.float32
    want = np.stack(
        [
            np.stack(
                [
                    numpy_ops.max_unpool2d(
                        pooled[b, :, :, c].astype("float32"), x[b, :, :, c].astype("float32")
                    )
                    for c in range(3)
                ],
                axis=-1,
            )
            for b in range(2)
        ]
    )
    np.testing.assert_array_equal(got, want)


def test_numpy_integers_are_taken_as_sizes():
    layer = MaxUnpooling2D(np.int64(2), strides=(np.int32(2), 2))
    assert layer.pool_size == (2, 2) and layer.strides == (2, 2)
    assert type(layer.pool_size[0]) is int  # JSON-serialisable config


# -- no value lost -------------------------------------------------------------

EDGE_WINDOWS = {
    "nan_first": [np.nan, 1.0, 2.0, 3.0],
    "nan_last": [1.0, 5.0, 2.0, np.nan],
    "all_nan": [np.nan] * 4,
    "all_minus_inf": [-np.inf] * 4,
    "plus_inf_twice": [1.0, np.inf, np.inf, 0.0],
    "minus_inf_and_number": [-np.inf, -np.inf, -3.0, -np.inf],
    "all_equal": [7.0] * 4,
    "all_zero": [0.0] * 4,
    "lowest_float": [-np.inf, np.finfo("float32").min, -np.inf, -np.inf],
}


def edge_image(pool):
    """One 2x2 (or pool x pool) window per edge case, side by side."""
    cells = pool * pool
    windows = [np.resize(np.array(v, "float32"), cells) for v in EDGE_WINDOWS.values()]
    image = np.concatenate([w.reshape(pool, pool) for w in windows], axis=1)
    return image[None, :, :, None]


@pytest.mark.parametrize("pool", [2, 3, 5])
def test_every_window_delivers_its_value_exactly_once(pool):
    x = edge_image(pool)
    count = x.shape[2] // pool
    pooled = np.arange(1, count + 1, dtype="float32").reshape(1, 1, count, 1)
    got = unpool(pooled, x, pool)[0, :, :, 0]
    expected = reference(pooled, x, pool, None, "valid")[0, :, :, 0]
    np.testing.assert_array_equal(got, expected)
    for w in range(count):
        window = got[:, w * pool : (w + 1) * pool]
        assert np.count_nonzero(window) == 1 and window.sum() == w + 1


@pytest.mark.parametrize("rows,cols,pool,strides", [(5, 5, 3, 1), (5, 7, 4, 4), (7, 7, 3, 2)])
def test_same_padding_never_sends_a_value_into_the_padding(rows, cols, pool, strides):
    # All -inf windows tie with the -inf padding: the value must still land
    # on the window's first cell inside the image.
    x = np.full((1, rows, cols, 1), -np.inf, "float32")
    out_shape = keras.layers.MaxPooling2D(pool, strides, "same").compute_output_shape(x.shape)
    pooled = np.arange(1, np.prod(out_shape) + 1, dtype="float32").reshape(out_shape)
    got = unpool(pooled, x, pool, strides, "same")
    np.testing.assert_array_equal(got, reference(pooled, x, pool, strides, "same"))
    assert got.sum() == pooled.sum()


def test_nan_rule_matches_the_numpy_reference_on_random_maps():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 9, 10, 3)).astype("float32")
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.1] = -np.inf
    for pool_size, strides, padding in [(2, None, "valid"), (3, 2, "same"), (2, 1, "valid")]:
        shape = pooled_shape(x.shape, pool_size, strides, padding)
        pooled = rng.normal(size=shape).astype("float32")
        got = unpool(pooled, x, pool_size, strides, padding)
        np.testing.assert_allclose(
            got, reference(pooled, x, pool_size, strides, padding), rtol=1e-6, atol=1e-6
        )
        np.testing.assert_allclose(got.sum(), pooled.sum(), rtol=1e-5)


# -- Keras conventions ---------------------------------------------------------


def test_built_at_construction_without_weights():
    layer = MaxUnpooling2D(2)
    assert layer.built and layer.weights == []


def test_unpooling_is_the_gradient_of_max_pooling():
    rng = np.random.default_rng(13)
    # Small integers: ties in most windows.
    x = rng.integers(0, 3, size=(2, 8, 8, 3)).astype("float32")
    pool = keras.layers.MaxPooling2D(2)
    pooled = keras.ops.convert_to_numpy(pool(x))
    (grad,) = kernels.vjp(lambda x_: pool(x_), [x], pooled)
    np.testing.assert_array_equal(grad, unpool(pooled, x, 2))
