"""The by-hand NumPy operations against hand-worked numbers and Keras."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cae_keras import numpy_ops


def keras_conv(x, kernel, strides=1, padding="valid"):
    out = tf.nn.conv2d(x[None, :, :, None], kernel[:, :, None, None], strides, padding.upper())
    return out.numpy()[0, :, :, 0]


def test_conv2d_hand_worked_4x4_valid():
    x = np.arange(16.0).reshape(4, 4)
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], float)
    # (0 - 2) + 2 * (4 - 6) + (8 - 10) = -8 everywhere: a ramp has one slope.
    np.testing.assert_array_equal(numpy_ops.conv2d(x, sobel), np.full((2, 2), -8.0))


def test_conv2d_same_5x5_counts_the_neighbours():
    out = numpy_ops.conv2d(np.ones((5, 5)), np.ones((3, 3)), padding="same")
    assert out.shape == (5, 5)
    assert out[0, 0] == 4 and out[0, 2] == 6 and out[2, 2] == 9


@pytest.mark.parametrize(
    "shape,k,s,padding",
    [
        ((7, 9), 3, 1, "same"),
        ((8, 8), 3, 2, "same"),
        ((9, 7), 2, 2, "valid"),
        ((6, 6), 5, 3, "same"),
    ],
)
def test_conv2d_matches_tensorflow(shape, k, s, padding):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    kernel = rng.normal(size=(k, k)).astype("float32")
    np.testing.assert_allclose(
        numpy_ops.conv2d(x, kernel, s, padding),
        keras_conv(x, kernel, s, padding),
        rtol=1e-4,
        atol=1e-5,
    )


def test_transpose_hand_worked_2x2_to_5x5():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    kernel = np.arange(1.0, 10.0).reshape(3, 3)
    out = numpy_ops.conv2d_transpose(x, kernel, strides=2)
    assert out.shape == (5, 5)
    # Corners come from one stamp each; the centre from the four corners.
    assert out[0, 0] == 1 * 1 and out[4, 4] == 4 * 9
    assert out[2, 2] == 1 * 9 + 2 * 7 + 3 * 3 + 4 * 1 == 36
    layer = keras.layers.Conv2DTranspose(1, 3, strides=2, use_bias=False)
    layer.build((1, 2, 2, 1))
    layer.set_weights([kernel[:, :, None, None].astype("float32")])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x[None, :, :, None].astype("float32")))[0, :, :, 0],
        out,
    )


@pytest.mark.parametrize("n,k,s", [(2, 3, 2), (3, 3, 1), (4, 5, 3), (3, 2, 2)])
def test_transpose_is_conv_over_stuffed_input_and_conv_gradient(n, k, s):
    rng = np.random.default_rng(n * k * s)
    x = rng.normal(size=(n, n))
    kernel = rng.normal(size=(k, k))
    scatter = numpy_ops.conv2d_transpose(x, kernel, s)
    np.testing.assert_allclose(
        numpy_ops.conv2d_transpose_as_conv(x, kernel, s), scatter, atol=1e-12
    )
    # The gradient of conv2d (VALID, stride s) with respect to its input.
    image = tf.Variable(np.zeros((1, *scatter.shape, 1)))
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(image, kernel[:, :, None, None], s, "VALID")
        loss = tf.reduce_sum(y * x[None, :, :, None])
    np.testing.assert_allclose(tape.gradient(loss, image).numpy()[0, :, :, 0], scatter, atol=1e-12)


def test_zero_stuff():
    np.testing.assert_array_equal(
        numpy_ops.zero_stuff(np.array([[1, 2], [3, 4]]), 2),
        [[1, 0, 2], [0, 0, 0], [3, 0, 4]],
    )


def test_max_pool_and_switches():
    x = np.array([[1, 2, 0, 0], [3, 4, 0, 5], [6, 0, 7, 7], [0, 0, 7, 7]], float)
    pooled, switches = numpy_ops.max_pool2d(x, 2)
    np.testing.assert_array_equal(pooled, [[4, 5], [6, 7]])
    assert switches.tolist() == [[[1, 1], [1, 3]], [[2, 0], [2, 2]]]
    rng = np.random.default_rng(0)
    y = rng.normal(size=(7, 9)).astype("float32")
    for k, s, padding in [
        (2, 2, "same"),
        (3, 2, "valid"),
        (3, 1, "same"),
        ((2, 3), (1, 2), "same"),
    ]:
        expected = tf.nn.max_pool2d(y[None, :, :, None], k, s, padding.upper()).numpy()[0, :, :, 0]
        np.testing.assert_array_equal(numpy_ops.max_pool2d(y, k, s, padding)[0], expected)


def test_max_unpool_shape_mismatch_and_bad_rank():
    with pytest.raises(ValueError, match="`pooled` has shape"):
        numpy_ops.max_unpool2d(np.ones((3, 3)), np.ones((4, 4)), 2)
    with pytest.raises(ValueError, match="`x` must be a 2-D"):
        numpy_ops.conv2d(np.ones((1, 4, 4)), np.ones((3, 3)))
