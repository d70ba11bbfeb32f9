"""Max pooling that also returns where each maximum was, for unpooling later."""

import keras
from keras import ops

from cae_keras import checks, kernels, shapes


def to_channels_last(x, data_format):
    """`x` as channels last (a transpose for `"channels_first"`)."""
    return ops.transpose(x, (0, 2, 3, 1)) if data_format == "channels_first" else x


def from_channels_last(x, data_format):
    """Back to `data_format` from channels last."""
    return ops.transpose(x, (0, 3, 1, 2)) if data_format == "channels_first" else x


def is_float_dtype(dtype):
    return keras.backend.standardize_dtype(dtype).startswith(("float", "bfloat"))


def check_data_format(data_format):
    """`data_format`, the Keras default where `None`, or a clear error."""
    data_format = keras.config.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"`data_format` must be 'channels_last' or 'channels_first', got {data_format!r}."
        )
    return data_format


@keras.saving.register_keras_serializable(package="cae_keras")
class MaxPoolingWithPositions2D(keras.layers.Layer):
    """Max pooling for 2D spatial data that also returns each maximum's position.

    Returns `(pooled, positions)`. `pooled` is exactly what `MaxPooling2D`
    with the same arguments gives. `positions` says, for every pooled value,
    which cell of its window held the maximum, as the offset
    `a * pool_cols + b` of row `a` and column `b` inside the window (`0` is
    the window's top-left cell). `MaxUnpooling2D` takes them back:
    `MaxUnpooling2D(...)([pooled, positions, like])` puts every value where it
    came from, exactly as `MaxUnpooling2D(...)([pooled, pool_input])` does,
    without keeping the pooling input (SegNet's memory saving: one byte per
    pooled value instead of the float32 map).

    The positions follow `MaxUnpooling2D`'s rule on every backend: the first
    cell, in row-major order, holding the window's maximum (ties, such as an
    all-zero window after a ReLU, go to the first tied cell, the one
    `tf.nn.max_pool_with_argmax` picks); a window holding a NaN points to its
    first cell inside the image; SAME padding cells are never chosen.

    Their dtype is the smallest integer type that holds every offset:
    `uint8` for windows of up to 256 cells (16x16), then `uint16`, then
    `int32`. No gradient flows through them.

    Beside PyTorch: `torch.nn.functional.max_pool2d(x, k, s,
    return_indices=True)` returns flat indices `r * cols + c` into the
    (unpadded, VALID) image instead. For window `(i, j)`:
    `r = i * stride_rows + a` and `c = j * stride_cols + b`, with
    `(a, b) = divmod(position, pool_cols)`. Ties go to the first maximum in
    both; a NaN window points to its first cell here and to its last NaN in
    PyTorch.

    Args:
        pool_size: int or tuple of 2 integers, the pooling window. Default
            `(2, 2)`.
        strides: int, tuple of 2 integers, or `None` (`pool_size`). Default
            `None`.
        padding: `"valid"` or `"same"` (case-insensitive); SAME pads the odd
            row or column after the image, as TensorFlow does. Default
            `"valid"`.
        data_format: `"channels_last"`, `"channels_first"` or `None` (Keras'
            `image_data_format()`). Default `None`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        4D tensor `(batch, rows, cols, channels)` (channels last) or
        `(batch, channels, rows, cols)` (channels first). Any dimension may
        be unknown.

    Output shape:
        Two 4D tensors of the shape `MaxPooling2D` gives: `pooled` (the
        input's dtype) and `positions` (an unsigned integer dtype).

    Example:

    >>> x = np.array([[1., 2., 0., 0.],
    ...               [3., 4., 0., 5.],
    ...               [6., 0., 7., 7.],
    ...               [0., 0., 7., 7.]]).reshape(1, 4, 4, 1)
    >>> pooled, positions = MaxPoolingWithPositions2D(2)(x)
    >>> keras.ops.convert_to_numpy(positions)[0, :, :, 0]
    array([[3, 3],
           [0, 0]], dtype=uint8)
    >>> y = MaxUnpooling2D(2)([pooled, positions, x])
    >>> keras.ops.convert_to_numpy(y)[0, :, :, 0]
    array([[0., 0., 0., 0.],
           [0., 4., 0., 5.],
           [6., 0., 7., 0.],
           [0., 0., 0., 0.]], dtype=float32)

    Reference:
        - [Badrinarayanan, Kendall & Cipolla, 2017](https://arxiv.org/abs/1511.00561),
          SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image
          Segmentation (the stored max-pooling indices).
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = checks.pair("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else checks.pair("strides", strides)
        self.padding = shapes.check_padding(padding)
        self.data_format = check_data_format(data_format)
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{self.__class__.__name__} expects a 4D input, got shape {shape}.")
        first = self.data_format == "channels_first"
        spatial = shape[2:] if first else shape[1:3]
        pooled = []
        for axis, length in enumerate(spatial):
            if length is None:
                pooled.append(None)
                continue
            try:
                pooled.append(
                    shapes.pool_output_length(
                        length, self.pool_size[axis], self.strides[axis], self.padding
                    )
                )
            except ValueError as error:
                raise ValueError(
                    f"An input of shape {shape} cannot be pooled with "
                    f"pool_size={self.pool_size}, strides={self.strides}, "
                    f"padding={self.padding!r}: {error}"
                ) from None
        if first:
            out = (shape[0], shape[1], *pooled)
        else:
            out = (shape[0], *pooled, shape[3])
        return out, out

    def compute_output_spec(self, inputs):
        shape, _ = self.compute_output_shape(inputs.shape)
        return (
            keras.KerasTensor(
                shape, dtype=inputs.dtype if is_float_dtype(inputs.dtype) else self.compute_dtype
            ),
            keras.KerasTensor(shape, dtype=kernels.positions_dtype(self.pool_size)),
        )

    def call(self, inputs):
        x = ops.convert_to_tensor(inputs)
        # Eager calls skip Keras' symbolic shape pass: check here too.
        self.compute_output_shape(kernels.known_shape(x.shape))
        if not is_float_dtype(x.dtype):
            x = ops.cast(x, self.compute_dtype)  # masks and label maps pool as floats
        x = to_channels_last(x, self.data_format)
        pooled, positions = kernels.max_pool_with_positions(
            x, self.pool_size, self.strides, self.padding
        )
        return (
            from_channels_last(pooled, self.data_format),
            from_channels_last(positions, self.data_format),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
            }
        )
        return config
