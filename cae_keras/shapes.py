"""Output-size arithmetic for convolution, transposed convolution and pooling.

These are the formulas a student works by hand; the tests check them against
what Keras builds over a grid of sizes, kernels, strides and paddings.

With input length ``n``, kernel ``k``, stride ``s`` and dilation ``d`` (the
dilated kernel spans ``k' = d * (k - 1) + 1``):

- VALID convolution: ``floor((n - k') / s) + 1``; SAME: ``ceil(n / s)``.
- Transposed convolution without ``output_padding``: VALID gives
  ``n * s + max(k' - s, 0)``, SAME gives ``n * s``; with ``output_padding`` p:
  ``(n - 1) * s + k' - 2 * pad + p`` where pad is ``k' // 2`` for SAME, 0 for
  VALID.
"""

from cae_keras import checks


def _check_positive(name, value):
    if not checks.is_int(value) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def check_padding(padding):
    """`padding` lower-cased, or a clear error unless it is VALID or SAME."""
    padding = str(padding).lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"`padding` must be 'valid' or 'same', got {padding!r}.")
    return padding


def dilated_kernel_size(kernel_size, dilation_rate=1):
    """Span of a kernel with holes: ``dilation_rate * (kernel_size - 1) + 1``."""
    _check_positive("kernel_size", kernel_size)
    _check_positive("dilation_rate", dilation_rate)
    return dilation_rate * (kernel_size - 1) + 1


def conv_output_length(input_length, kernel_size, strides=1, padding="valid", dilation_rate=1):
    """Length of a convolution's output along one spatial axis.

    Example:

    >>> conv_output_length(4, 3, padding="valid")  # 4x4 input, 3x3 kernel
    2
    >>> conv_output_length(5, 3, padding="same")
    5
    """
    _check_positive("input_length", input_length)
    _check_positive("strides", strides)
    padding = check_padding(padding)
    span = dilated_kernel_size(kernel_size, dilation_rate)
    if padding == "same":
        return -(-input_length // strides)
    if input_length < span:
        raise ValueError(
            f"`input_length` {input_length} is shorter than the kernel span {span}: "
            "a VALID convolution has no output."
        )
    return (input_length - span) // strides + 1


def same_padding(input_length, kernel_size, strides=1, dilation_rate=1):
    """Zeros TensorFlow adds ``(before, after)`` for SAME convolution or pooling.

    The total is ``max((out - 1) * s + k' - n, 0)``; the odd one goes after.

    Example:

    >>> same_padding(5, 2, 2)  # windows [0,1], [2,3], [4,pad]
    (0, 1)
    """
    out = conv_output_length(input_length, kernel_size, strides, "same", dilation_rate)
    span = dilated_kernel_size(kernel_size, dilation_rate)
    total = max((out - 1) * strides + span - input_length, 0)
    return total // 2, total - total // 2


def pool_output_length(input_length, pool_size, strides=None, padding="valid"):
    """Length of a pooling's output: the convolution formula with ``pool_size``.

    ``strides=None`` means ``pool_size``, as in ``keras.layers.MaxPooling2D``.

    Example:

    >>> pool_output_length(28, 4)
    7
    >>> pool_output_length(7, 2, padding="same")
    4
    """
    return conv_output_length(
        input_length, pool_size, pool_size if strides is None else strides, padding
    )


def conv_transpose_output_length(
    input_length,
    kernel_size,
    strides=1,
    padding="valid",
    output_padding=None,
    dilation_rate=1,
):
    """Length of a transposed convolution's output along one spatial axis.

    Example:

    >>> conv_transpose_output_length(2, 3, strides=2)  # the 2x2 -> 5x5 example
    5
    >>> conv_transpose_output_length(7, 3, strides=2, padding="same")
    14
    """
    _check_positive("input_length", input_length)
    _check_positive("strides", strides)
    padding = check_padding(padding)
    span = dilated_kernel_size(kernel_size, dilation_rate)
    if output_padding is None:
        if padding == "valid":
            return input_length * strides + max(span - strides, 0)
        return input_length * strides
    if not checks.is_int(output_padding):
        raise ValueError(f"`output_padding` must be an integer, got {output_padding!r}.")
    if not 0 <= output_padding < strides:
        raise ValueError(
            f"`output_padding` must be in [0, strides) = [0, {strides}), got {output_padding}."
        )
    pad = span // 2 if padding == "same" else 0
    return (input_length - 1) * strides + span - 2 * pad + output_padding


def keras_output_length(
    kind, input_length, kernel_size, strides=1, padding="valid", output_padding=None
):
    """What Keras builds: the output length of a real layer, for comparison.

    Args:
        kind: `"conv"` (`Conv2D`), `"transpose"` (`Conv2DTranspose`) or
            `"pool"` (`MaxPooling2D`).
        input_length, kernel_size, strides, padding, output_padding: as for
            the formulas above (`output_padding` only for `"transpose"`).
    """
    from keras import layers

    if kind == "conv":
        layer = layers.Conv2D(1, kernel_size, strides=strides, padding=padding)
    elif kind == "transpose":
        layer = layers.Conv2DTranspose(
            1,
            kernel_size,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
        )
    elif kind == "pool":
        layer = layers.MaxPooling2D(kernel_size, strides=strides, padding=padding)
    else:
        raise ValueError(f"`kind` must be 'conv', 'transpose' or 'pool', got {kind!r}.")
    return layer.compute_output_shape((1, input_length, input_length, 1))[1]
