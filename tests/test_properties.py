"""Property-based tests: the layers against independent NumPy references over
random batches, sizes, windows, strides, padding and values (Hypothesis).

Run on TensorFlow here and on JAX (and PyTorch where installed) by
`test_backends_properties.py`. The examples are fixed per run (the "ci" profile in
`conftest.py`); `HYPOTHESIS_PROFILE=explore` draws new ones.
"""

import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cae_keras import kernels, numpy_ops, shapes
from cae_keras.layers import MaxPoolingWithPositions2D, MaxUnpooling2D, TiedConv2DTranspose

# TensorFlow, the primary backend, runs every example; JAX and PyTorch compile
# each new shape anew, so they run half as many (still fixed per run).
SHARE = 1.0 if keras.backend.backend() == "tensorflow" else 0.5


def examples(n):
    return settings(max_examples=int(n * SHARE))


# Values with ties (a few integers), and the edge values the rule covers.
VALUES = st.sampled_from([0.0, 1.0, 2.0, -1.0, np.nan, np.inf, -np.inf])


@st.composite
def unpooling_cases(draw):
    """A `pool_input` with tied, NaN and infinite values, a pooling
    configuration (windows larger than the image included) and a `pooled`
    of the shape that pooling gives."""
    batch, channels = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rows, cols = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    pool = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = draw(st.sampled_from(["valid", "same"]))
    size = batch * rows * cols * channels
    x = np.array(draw(st.lists(VALUES, min_size=size, max_size=size)), "float32")
    x = x.reshape(batch, rows, cols, channels)
    seed = draw(st.integers(0, 2**16))
    return x, pool, strides, padding, np.random.default_rng(seed)


def pooled_length(n, k, s, padding):
    return None if padding == "valid" and k > n else shapes.pool_output_length(n, k, s, padding)


def switches(x, pool, strides, padding):
    """`switches[b, i, j, c]`: the (row, col) in `x` that window (i, j) chose."""
    out = [
        [numpy_ops.max_pool2d(x[b, :, :, c], pool, strides, padding)[1] for c in range(x.shape[3])]
        for b in range(x.shape[0])
    ]
    return np.array(out).transpose(0, 2, 3, 1, 4)  # (batch, rows, cols, channels, 2)


@examples(120)
@given(unpooling_cases())
def test_max_unpooling_matches_numpy_forward_and_gradient(case):
    x, pool, strides, padding, rng = case
    rows, cols = (pooled_length(n, k, s, padding) for n, k, s in zip(x.shape[1:3], pool, strides))
    layer = MaxUnpooling2D(pool, strides, padding)
    if rows is None or cols is None:
        # A VALID window larger than the image pools nothing: refused clearly.
        with pytest.raises(ValueError, match="pool"):
            layer([np.ones((x.shape[0], 1, 1, x.shape[3]), "float32"), x])
        return
    pooled = rng.normal(size=(x.shape[0], rows, cols, x.shape[3])).astype("float32")
    chosen = switches(x, pool, strides, padding)
    # Forward: each pooled value added at its window's chosen cell.
    want = np.zeros_like(x)
    for b, i, j, c in np.ndindex(pooled.shape):
        r, q = chosen[b, i, j, c]
        want[b, r, q, c] += pooled[b, i, j, c]
    got = keras.ops.convert_to_numpy(layer([pooled, x]))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # Gradient with respect to `pooled`: the upstream value at the chosen cell.
    upstream = rng.normal(size=x.shape).astype("float32")
    (grad,) = kernels.vjp(lambda p: layer([p, x]), [pooled], upstream)
    want_grad = np.zeros_like(pooled)
    for b, i, j, c in np.ndindex(pooled.shape):
        r, q = chosen[b, i, j, c]
        want_grad[b, i, j, c] = upstream[b, r, q, c]
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-6)


@examples(60)
@given(unpooling_cases())
def test_max_unpooling_matches_the_loop_reference_on_real_pooling(case):
    # `pooled` as max pooling makes it (NaN and infinities included), against
    # `numpy_ops.max_unpool2d`, the textbook loops.
    x, pool, strides, padding, _ = case
    rows, cols = (pooled_length(n, k, s, padding) for n, k, s in zip(x.shape[1:3], pool, strides))
    assume(rows is not None and cols is not None)
    pooled = np.zeros((x.shape[0], rows, cols, x.shape[3]), "float32")
    want = np.zeros_like(x)
    for b in range(x.shape[0]):
        for c in range(x.shape[3]):
            pooled[b, :, :, c] = numpy_ops.max_pool2d(x[b, :, :, c], pool, strides, padding)[0]
            want[b, :, :, c] = numpy_ops.max_unpool2d(
                pooled[b, :, :, c], x[b, :, :, c], pool, strides, padding
            )
    got = keras.ops.convert_to_numpy(MaxUnpooling2D(pool, strides, padding)([pooled, x]))
    np.testing.assert_array_equal(got, want)  # NaN where NaN, inf where inf


def window_offsets(chosen, x_shape, pool, strides, padding):
    """The offset `a * pool_cols + b` inside each window of the cell it chose
    (`chosen` from `switches`), windows laid out as TensorFlow lays them."""
    before = []
    for axis in (0, 1):
        n, k, s = x_shape[1 + axis], pool[axis], strides[axis]
        out = shapes.pool_output_length(n, k, s, padding)
        before.append(max((out - 1) * s + k - n, 0) // 2 if padding == "same" else 0)
    rows = np.arange(chosen.shape[1])[None, :, None, None] * strides[0] - before[0]
    cols = np.arange(chosen.shape[2])[None, None, :, None] * strides[1] - before[1]
    return (chosen[..., 0] - rows) * pool[1] + (chosen[..., 1] - cols)


@examples(50)
@given(unpooling_cases())
def test_positions_are_the_chosen_cells_and_unpool_exactly_as_the_pool_input(case):
    x, pool, strides, padding, rng = case
    rows, cols = (pooled_length(n, k, s, padding) for n, k, s in zip(x.shape[1:3], pool, strides))
    assume(rows is not None and cols is not None)
    pooled, positions = MaxPoolingWithPositions2D(pool, strides, padding)(x)
    positions = keras.ops.convert_to_numpy(positions)
    assert positions.dtype == np.uint8
    want = window_offsets(switches(x, pool, strides, padding), x.shape, pool, strides, padding)
    np.testing.assert_array_equal(positions, want)
    # Unpooling any values from the positions is unpooling them from `x`,
    # forward and backward.
    values = rng.normal(size=positions.shape).astype("float32")
    layer = MaxUnpooling2D(pool, strides, padding)
    from_input = keras.ops.convert_to_numpy(layer([values, x]))
    from_positions = keras.ops.convert_to_numpy(layer([values, positions, x]))
    np.testing.assert_array_equal(from_positions, from_input)
    upstream = rng.normal(size=x.shape).astype("float32")
    (grad_input,) = kernels.vjp(lambda p: layer([p, x]), [values], upstream)
    (grad_positions,) = kernels.vjp(
        lambda p: layer([p, positions], output_size=x.shape[1:3]), [values], upstream
    )
    np.testing.assert_array_equal(grad_positions, grad_input)
    # `pooled` is what MaxPooling2D gives.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(pooled),
        keras.ops.convert_to_numpy(keras.layers.MaxPooling2D(pool, strides, padding)(x)),
    )


@st.composite
def tied_cases(draw):
    strides = draw(st.integers(1, 3))
    # TensorFlow's convolution takes strides or dilation above 1, not both.
    dilation = 1 if strides > 1 else draw(st.integers(1, 2))
    kernel = draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["valid", "same"]))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    n = draw(st.integers(dilation * (kernel - 1) + 1, 9))
    return dict(
        strides=strides,
        dilation=dilation,
        kernel=kernel,
        padding=padding,
        data_format=data_format,
        n=n,
        channels=draw(st.integers(1, 3)),
        filters=draw(st.integers(1, 3)),
        batch=draw(st.integers(1, 2)),
        seed=draw(st.integers(0, 2**16)),
    )


@examples(60)
@given(tied_cases())
def test_tied_transpose_is_the_vjp_of_its_source(case):
    s, d, k, n = case["strides"], case["dilation"], case["kernel"], case["n"]
    source = keras.layers.Conv2D(
        case["filters"],
        k,
        strides=s,
        padding=case["padding"],
        dilation_rate=d,
        data_format=case["data_format"],
    )
    first = case["data_format"] == "channels_first"
    shape = (
        (case["batch"], case["channels"], n, n)
        if first
        else (case["batch"], n, n, case["channels"])
    )
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=shape).astype("float32")
    y = keras.ops.convert_to_numpy(source(x))
    # The output padding (if any) that maps back to exactly `n`.
    m = y.shape[2] if first else y.shape[1]
    fits = [
        p
        for p in [None, *range(s)]
        if shapes.conv_transpose_output_length(m, k, s, case["padding"], p, d) == n
    ]
    assume(fits)
    tied = TiedConv2DTranspose(source, output_padding=fits[0], use_bias=False)
    upstream = rng.normal(size=y.shape).astype("float32")
    got = keras.ops.convert_to_numpy(tied(upstream))
    (want,) = kernels.vjp(lambda v: source(v), [x], upstream)
    assert got.shape == want.shape == x.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
