"""MaxPoolingWithPositions2D, and MaxUnpooling2D from its positions: against
the pool-input form on every reference case, a hand-worked example, PyTorch's
own indices, and Keras' machinery (config, dtypes, data formats, any size,
training, saving).

Backend-neutral: `tests/test_backends.py` runs this file again under JAX and
PyTorch.
"""

import importlib.util

import keras
import numpy as np
import pytest

from cae_keras import kernels
from cae_keras.layers import MaxPoolingWithPositions2D, MaxUnpooling2D
from tests.layer_testing import reload_in_fresh_process
from tests.test_max_unpooling import CASES, EDGE_WINDOWS, edge_image, reference

BACKEND = keras.backend.backend()


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def both_ways(x, values, pool_size, strides=None, padding="valid"):
    """Unpool `values` from `x` itself and from its positions."""
    _, positions = MaxPoolingWithPositions2D(pool_size, strides, padding)(x)
    layer = MaxUnpooling2D(pool_size, strides, padding)
    return numpy(layer([values, x])), numpy(layer([values, positions, x]))


@pytest.mark.parametrize("rows,cols,pool_size,strides,padding", CASES)
def test_positions_unpool_exactly_as_the_pool_input_with_ties(
    rows, cols, pool_size, strides, padding
):
    rng = np.random.default_rng(rows * 100 + cols)
    x = rng.integers(0, 3, size=(2, rows, cols, 3)).astype("float32")  # ties everywhere
    pooled, positions = MaxPoolingWithPositions2D(pool_size, strides, padding)(x)
    np.testing.assert_array_equal(
        numpy(pooled), numpy(keras.layers.MaxPooling2D(pool_size, strides, padding)(x))
    )
    values = rng.normal(size=pooled.shape).astype("float32")
    from_input, from_positions = both_ways(x, values, pool_size, strides, padding)
    np.testing.assert_array_equal(from_positions, from_input)
    np.testing.assert_allclose(
        from_positions, reference(values, x, pool_size, strides, padding), rtol=1e-6, atol=1e-6
    )


def test_hand_worked_4x4():
    x = np.array([[1, 2, 0, 0], [3, 4, 0, 5], [6, 0, 7, 7], [0, 0, 7, 7]], "float32")
    pooled, positions = MaxPoolingWithPositions2D(2)(x.reshape(1, 4, 4, 1))
    # 4 is at (1, 1) of its window, 5 at (1, 1), 6 at (0, 0), the first 7 at (0, 0).
    np.testing.assert_array_equal(numpy(positions)[0, :, :, 0], [[3, 3], [0, 0]])
    np.testing.assert_array_equal(numpy(pooled)[0, :, :, 0], [[4, 5], [6, 7]])
    out = MaxUnpooling2D(2)([pooled, positions], output_size=(4, 4))
    expected = np.array([[0, 0, 0, 0], [0, 4, 0, 5], [6, 0, 7, 0], [0, 0, 0, 0]], "float32")
    np.testing.assert_array_equal(numpy(out)[0, :, :, 0], expected)


@pytest.mark.parametrize("pool", [2, 3, 5])
def test_edge_windows_nan_and_infinities(pool):
    x = edge_image(pool)
    count = x.shape[2] // pool
    values = np.arange(1, count + 1, dtype="float32").reshape(1, 1, count, 1)
    from_input, from_positions = both_ways(x, values, pool)
    np.testing.assert_array_equal(from_positions, from_input)
    _, positions = MaxPoolingWithPositions2D(pool)(x)
    names = list(EDGE_WINDOWS)
    positions = numpy(positions)[0, 0, :, 0]
    assert positions[names.index("nan_last")] == 0  # a NaN window: its first cell
    assert positions[names.index("minus_inf_and_number")] == 2 % (pool * pool)


@pytest.mark.parametrize("rows,cols,pool,strides", [(5, 5, 3, 1), (5, 7, 4, 4), (7, 7, 3, 2)])
def test_same_padding_is_never_a_position(rows, cols, pool, strides):
    x = np.full((1, rows, cols, 1), -np.inf, "float32")
    _, positions = MaxPoolingWithPositions2D(pool, strides, "same")(x)
    values = np.arange(1, np.prod(positions.shape) + 1, dtype="float32").reshape(positions.shape)
    from_input, from_positions = both_ways(x, values, pool, strides, "same")
    np.testing.assert_array_equal(from_positions, from_input)
    assert from_positions.sum() == values.sum()


def test_gradient_to_pooled_is_the_same_both_ways():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(2, 9, 9, 2)).astype("float32")
    _, positions = MaxPoolingWithPositions2D(3, strides=2)(x)
    values = rng.normal(size=positions.shape).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    layer = MaxUnpooling2D(3, strides=2)
    (want,) = kernels.vjp(lambda p: layer([p, x]), [values], upstream)
    (got,) = kernels.vjp(lambda p: layer([p, positions, x]), [values], upstream)
    np.testing.assert_array_equal(got, want)


def test_the_unpooled_positions_are_the_gradient_of_max_pooling():
    rng = np.random.default_rng(13)
    x = rng.integers(0, 3, size=(2, 8, 8, 3)).astype("float32")
    pooled, positions = MaxPoolingWithPositions2D(2)(x)
    (grad,) = kernels.vjp(lambda x_: keras.layers.MaxPooling2D(2)(x_), [x], numpy(pooled))
    np.testing.assert_array_equal(numpy(MaxUnpooling2D(2)([pooled, positions, x])), grad)


def test_the_smallest_dtype_that_holds_the_offsets():
    assert [kernels.positions_dtype(p) for p in [(1, 1), (16, 16), (17, 16), (256, 256)]] == [
        "uint8",
        "uint8",
        "uint16",
        "uint16",
    ]
    assert kernels.positions_dtype((257, 256)) == "int32"
    for pool_size, dtype in [(2, "uint8"), (16, "uint8"), ((17, 16), "uint16")]:
        positions = MaxPoolingWithPositions2D(pool_size)(keras.Input((34, 32, 2)))[1]
        assert keras.backend.standardize_dtype(positions.dtype) == dtype


@pytest.mark.skipif(
    BACKEND == "torch", reason="PyTorch's uint16 tensors have too few ops for the formula"
)
def test_offsets_past_255_unpool_exactly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 34, 32, 2)).astype("float32")
    x[:, [16, 33]] += 100.0  # each window's maximum on its last row: offsets from 256 up
    pooled, positions = MaxPoolingWithPositions2D((17, 16))(x)
    assert keras.backend.standardize_dtype(positions.dtype) == "uint16"
    assert numpy(positions).min() >= 256
    from_input, from_positions = both_ways(x, numpy(pooled), (17, 16))
    np.testing.assert_array_equal(from_positions, from_input)


def test_channels_first_is_channels_last_transposed():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 4, size=(2, 7, 9, 3)).astype("float32")
    first = np.transpose(x, (0, 3, 1, 2))
    pooled, positions = MaxPoolingWithPositions2D(2, padding="same")(x)
    pooled_f, positions_f = MaxPoolingWithPositions2D(
        2, padding="same", data_format="channels_first"
    )(first)
    np.testing.assert_array_equal(numpy(positions_f), np.transpose(numpy(positions), (0, 3, 1, 2)))
    np.testing.assert_array_equal(numpy(pooled_f), np.transpose(numpy(pooled), (0, 3, 1, 2)))
    unpool = MaxUnpooling2D(2, padding="same")
    unpool_f = MaxUnpooling2D(2, padding="same", data_format="channels_first")
    want = np.transpose(numpy(unpool([pooled, positions, x])), (0, 3, 1, 2))
    np.testing.assert_array_equal(numpy(unpool_f([pooled_f, positions_f, first])), want)
    np.testing.assert_array_equal(numpy(unpool_f([pooled_f, first])), want)
    np.testing.assert_array_equal(
        numpy(unpool_f([pooled_f, positions_f], output_size=(7, 9))), want
    )
    assert unpool_f.compute_output_shape([(None, 3, 4, 5), (None, 3, 7, 9)]) == (None, 3, 7, 9)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision(dtype):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, size=(2, 8, 8, 3)).astype("float32")
    values = rng.integers(1, 9, size=(2, 4, 4, 3)).astype("float32")
    pooled, positions = MaxPoolingWithPositions2D(2, dtype=dtype)(keras.ops.cast(x, dtype))
    assert keras.backend.standardize_dtype(pooled.dtype) == dtype
    out = MaxUnpooling2D(2, dtype=dtype)([keras.ops.cast(values, dtype), positions, x])
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    np.testing.assert_array_equal(
        numpy(keras.ops.cast(out, "float32")), reference(values, x, 2, None, "valid")
    )


def segnet_like(padding="same", filters=4):
    """Conv -> pool with positions -> unpool -> conv, on images of any size."""
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv")(inputs)
    pooled, positions = MaxPoolingWithPositions2D(2, padding=padding, name="pool")(conv)
    unpooled = MaxUnpooling2D(2, padding=padding, name="unpool")([pooled, positions, conv])
    out = keras.layers.Conv2D(1, 1, name="head")(unpooled)
    return keras.Model(inputs, [conv, pooled, unpooled, out])


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_one_model_runs_on_odd_sizes_and_reloads(padding, tmp_path):
    model = segnet_like(padding)
    rng = np.random.default_rng(10)
    for rows, cols in [(28, 28), (61, 47), (5, 9)]:
        x = rng.normal(size=(2, rows, cols, 3)).astype("float32")
        conv, pooled, unpooled, _ = (numpy(t) for t in model(x))
        assert unpooled.shape == (2, rows, cols, 4)
        np.testing.assert_allclose(
            unpooled, reference(pooled, conv, 2, None, padding), rtol=1e-6, atol=1e-6
        )
    model.save(tmp_path / "positions.keras")
    reloaded = keras.saving.load_model(tmp_path / "positions.keras")
    x = rng.normal(size=(1, 61, 47, 3)).astype("float32")
    for a, b in zip(reloaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)


def test_output_size_survives_saving(tmp_path):
    inputs = keras.Input((7, 9, 2))
    pooled, positions = MaxPoolingWithPositions2D(2, padding="same")(inputs)
    out = MaxUnpooling2D(2, padding="same")([pooled, positions], output_size=(7, 9))
    model = keras.Model(inputs, out)
    assert tuple(out.shape) == (None, 7, 9, 2)
    x = np.random.default_rng(1).normal(size=(2, 7, 9, 2)).astype("float32")
    stdout = reload_in_fresh_process(model, x, tmp_path, check="model.output.shape")
    assert "(None, 7, 9, 2)" in stdout


def test_compiled_training_and_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    model = segnet_like("same")
    trainable = keras.Model(model.input, model.outputs[-1])
    assert keras.backend.standardize_dtype(model.outputs[2].dtype) == "float16"
    trainable.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(11)
    before = [w.copy() for w in trainable.get_weights()]
    for rows, cols in [(12, 12), (9, 14)]:
        x = rng.normal(size=(4, rows, cols, 3)).astype("float32")
        history = trainable.fit(x, x[..., :1], epochs=1, batch_size=4, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    assert all(not np.array_equal(a, b) for a, b in zip(before, trainable.get_weights()))


def test_config_round_trip():
    layer = MaxPoolingWithPositions2D((3, 2), strides=(1, 2), padding="SAME", name="p")
    config = layer.get_config()
    assert config["pool_size"] == (3, 2) and config["strides"] == (1, 2)
    assert config["padding"] == "same" and config["data_format"] == "channels_last"
    assert MaxPoolingWithPositions2D.from_config(config).get_config() == config
    assert layer.built and layer.weights == []


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: MaxUnpooling2D(2)(
                [keras.Input((3, 3, 1)), keras.Input((3, 4, 1), dtype="uint8")],
                output_size=(6, 6),
            ),
            "`positions` must have the shape of `pooled`",
        ),
        (
            lambda: MaxUnpooling2D(2)(
                [keras.Input((3, 3, 1)), keras.Input((3, 3, 1), dtype="uint8")],
                output_size=(8, 8),
            ),
            "pool_input",
        ),
        (
            lambda: MaxUnpooling2D(2)(
                [keras.Input((3, 3, 1)), keras.Input((3, 3, 1), dtype="uint8")],
            ),
            "pass the output size too",
        ),
        (
            lambda: MaxUnpooling2D(2)(
                [
                    keras.Input((3, 3, 1)),
                    keras.Input((3, 3, 1), dtype="uint8"),
                    keras.Input((6, 6, 1)),
                ],
                output_size=(6, 6),
            ),
            "output size once",
        ),
        (
            lambda: MaxUnpooling2D(2)(
                [keras.Input((3, 3, 1)), keras.Input((3, 3, 1), dtype="uint8")], output_size=0
            ),
            "`output_size`",
        ),
        (lambda: MaxPoolingWithPositions2D(2)(keras.Input((3, 3))), "4D"),
        (lambda: MaxPoolingWithPositions2D(4)(keras.Input((3, 3, 1))), "cannot be pooled"),
        (lambda: MaxPoolingWithPositions2D(data_format="nhwc"), "`data_format`"),
        (lambda: MaxPoolingWithPositions2D(pool_size=0), "`pool_size`"),
    ],
)
def test_bad_inputs_are_refused_with_their_names(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_eager_size_mismatch_names_both_shapes():
    pooled = np.ones((1, 3, 3, 1), "float32")
    with pytest.raises(ValueError) as error:
        MaxUnpooling2D(2)([pooled, np.zeros((1, 3, 2, 1), "uint8"), np.zeros((1, 6, 6, 1))])
    assert "(1, 3, 3, 1)" in str(error.value) and "(1, 3, 2, 1)" in str(error.value)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="checks a TensorFlow graph's run-time check")
def test_a_mismatch_known_only_at_run_time_is_refused_in_a_graph():
    import tensorflow as tf

    layer = MaxUnpooling2D(2)
    spec = [tf.TensorSpec((None,) * 4), tf.TensorSpec((None,) * 4, tf.uint8)]
    run = tf.function(lambda p, q, like: layer([p, q, like]), input_signature=[*spec, spec[0]])
    pooled, like = np.ones((1, 4, 4, 1), "float32"), np.zeros((1, 8, 8, 1), "float32")
    assert run(pooled, np.zeros((1, 4, 4, 1), "uint8"), like).shape == (1, 8, 8, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must have the shape that pooling"):
        run(pooled, np.zeros((1, 4, 3, 1), "uint8"), like)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must have the shape that pooling"):
        run(pooled, np.zeros((1, 4, 4, 1), "uint8"), np.zeros((1, 10, 10, 1), "float32"))


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed")
@pytest.mark.parametrize(
    "rows,cols,pool,strides", [(8, 8, 2, 2), (9, 11, 3, 2), (7, 7, 2, 1), (12, 10, (3, 2), (3, 2))]
)
def test_positions_and_unpooling_match_pytorch(rows, cols, pool, strides):
    # Distinct values: no ties and no NaN, where the two rules agree.
    import torch
    import torch.nn.functional as F

    pool = (pool, pool) if isinstance(pool, int) else pool
    strides = (strides, strides) if isinstance(strides, int) else strides
    rng = np.random.default_rng(rows * cols)
    x = rng.permutation(2 * rows * cols * 3).reshape(2, rows, cols, 3).astype("float32")
    pooled, positions = MaxPoolingWithPositions2D(pool, strides)(x)
    pooled, positions = numpy(pooled), numpy(positions).astype("int64")
    t_pooled, t_index = F.max_pool2d(
        torch.from_numpy(x).permute(0, 3, 1, 2), pool, strides, return_indices=True
    )
    # The docstring's conversion: window offset -> PyTorch's flat index.
    a, b = np.divmod(positions, pool[1])
    r = np.arange(positions.shape[1])[None, :, None, None] * strides[0] + a
    c = np.arange(positions.shape[2])[None, None, :, None] * strides[1] + b
    np.testing.assert_array_equal(r * cols + c, t_index.permute(0, 2, 3, 1).numpy())
    np.testing.assert_array_equal(pooled, t_pooled.permute(0, 2, 3, 1).numpy())
    # Unpooling: PyTorch overwrites where windows overlap, so compare its
    # scatter of values where they do not, and always the sum of our output.
    values = rng.normal(size=pooled.shape).astype("float32")
    ours = numpy(MaxUnpooling2D(pool, strides)([values, positions], output_size=(rows, cols)))
    flat = torch.zeros(2, 3, rows * cols).scatter_add(
        2, t_index.flatten(2), torch.from_numpy(values).permute(0, 3, 1, 2).flatten(2)
    )
    np.testing.assert_allclose(
        ours, flat.view(2, 3, rows, cols).permute(0, 2, 3, 1).numpy(), rtol=1e-6, atol=1e-6
    )
    if strides[0] >= pool[0] and strides[1] >= pool[1]:
        theirs = F.max_unpool2d(
            torch.from_numpy(values).permute(0, 3, 1, 2),
            t_index,
            pool,
            strides,
            output_size=(rows, cols),
        )
        np.testing.assert_array_equal(ours, theirs.permute(0, 2, 3, 1).numpy())
