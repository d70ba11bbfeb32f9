"""Max unpooling: from the pooling input, as CNTK does, or from stored positions,
as SegNet does."""

import keras
from keras import ops

from cae_keras import checks, kernels, shapes
from cae_keras.layers.max_pooling_with_positions2d import (
    check_data_format,
    from_channels_last,
    is_float_dtype,
    to_channels_last,
)


@keras.saving.register_keras_serializable(package="cae_keras")
class MaxUnpooling2D(keras.layers.Layer):
    """Max unpooling for 2D spatial data, the inverse of `MaxPooling2D`'s choice.

    Each value of `pooled` is written at the position where the maximum of its
    pooling window was in `pool_input`; every other position is zero. It is
    the gradient of max pooling with respect to its input, evaluated with
    `pooled` as the upstream gradient, just as `Conv2DTranspose` is the
    gradient of `Conv2D`.

    Unlike `UpSampling2D`, which copies each value over its whole window, this
    puts the detail back where it came from, the idea of Zeiler & Fergus'
    deconvnets and of Noh et al.'s switch variables. It finds each window's
    cell in one of two ways:

    - `[pooled, pool_input]`: like CNTK's `MaxUnpooling(pooled, pool_input)`,
      it recomputes the positions from the pooling input, so the pooling
      layer stays an ordinary `MaxPooling2D`; the model keeps the whole
      pooling input until the decoder runs.
    - `[pooled, positions, like]` or `[pooled, positions]` with
      `output_size=(rows, cols)`: SegNet's way. `MaxPoolingWithPositions2D`
      returned the positions (one byte per pooled value) while pooling; the
      output takes its rows and columns from `like` (only its shape is read)
      or from `output_size`, so odd sizes come back exactly. Both forms give
      the same values and the same gradient to `pooled`.

    One rule on every backend and device; no value is ever lost:

    - Each window sends its value to exactly one of its cells inside the
      image: the first cell, in row-major order, holding the window's maximum.
      Ties (an all-zero window after a ReLU, an all `-inf` window) go to the
      first tied cell, the one `tf.nn.max_pool_with_argmax` picks.
    - A window holding a NaN has no maximum (NaN compares false with every
      number): its value goes to the window's first cell inside the image.
    - Padding cells (`"same"`) never receive a value; rows and columns that no
      window covers (`"valid"`) stay zero.
    - With overlapping windows (`strides` smaller than `pool_size`) values
      sent to one position add up, so the layer is exactly the transpose of
      max pooling's selection.

    Gradients: the gradient with respect to `pooled` is exact (each pooled
    position receives the upstream gradient at the position it was sent to).
    `pool_input` only chooses positions and receives no gradient.

    Any image size: rows, columns, channels and batch may be unknown
    (`keras.Input((None, None, channels))`), so the layer fits fully
    convolutional models. `pooled` must have exactly the batch, rows, columns
    and channels that pooling `pool_input` gives: a mismatch is an error
    naming both shapes, at build time where sizes are known and at run time
    otherwise (an `InvalidArgumentError` in a TensorFlow graph). Integer and
    bool inputs (masks, label maps) are cast to the layer's dtype.

    Speed: on TensorFlow the layer runs as one XLA-fused kernel, also inside
    the plain graphs that Keras' `fit` runs on a CPU-only machine; on JAX it is
    the same `keras.ops` formula under `jit`; on PyTorch it uses the native
    max-pooling kernel's indices and `scatter_add`. See
    `benchmarks/unpooling.py` for what each costs beside `UpSampling2D`.

    Args:
        pool_size: int or tuple of 2 integers, the pooling window the layer
            undoes. Default `(2, 2)`.
        strides: int, tuple of 2 integers, or `None`. `None` means
            `pool_size`. Default `None`.
        padding: `"valid"` or `"same"` (case-insensitive), as in the pooling
            layer. `"same"` uses TensorFlow's windows: the odd padded row or
            column goes after. Default `"valid"`.
        data_format: `"channels_last"`, `"channels_first"` or `None` (Keras'
            `image_data_format()`). Default `None`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: `[pooled, pool_input]`: the output of a max pooling with
            these arguments and that pooling's input, the same order as
            CNTK's `MaxUnpooling(pool1, conv1)`. Or `[pooled, positions,
            like]`: the two outputs of `MaxPoolingWithPositions2D` and a
            tensor with the output's rows and columns (only its shape is
            read). Or `[pooled, positions]` with `output_size`.
        output_size: `(rows, cols)`, the output's size when unpooling from
            `[pooled, positions]`. Default `None`.

    Input shape:
        `pooled`: 4D tensor `(batch_size, pooled_rows, pooled_cols, channels)`.
        `pool_input`: 4D tensor `(batch_size, rows, cols, channels)`, with the
        same batch size and channels, such that pooling it gives
        `(pooled_rows, pooled_cols)`. `positions`: the shape of `pooled`, an
        integer dtype. Any dimension may be unknown. Shown channels last;
        `data_format="channels_first"` puts channels second.

    Output shape:
        4D tensor with the shape of `pool_input` (the rows and columns of
        `like` or `output_size` when unpooling from positions).

    Example:

    >>> x = np.array([[1., 2., 0., 0.],
    ...               [3., 4., 0., 5.],
    ...               [6., 0., 7., 7.],
    ...               [0., 0., 7., 7.]]).reshape(1, 4, 4, 1)
    >>> pooled = keras.layers.MaxPooling2D(2)(x)
    >>> y = MaxUnpooling2D(2)([pooled, x])
    >>> keras.ops.convert_to_numpy(y)[0, :, :, 0]
    array([[0., 0., 0., 0.],
           [0., 4., 0., 5.],
           [6., 0., 7., 0.],
           [0., 0., 0., 0.]], dtype=float32)

    Reference:
        - CNTK's `MaxUnpooling` layer and its 07_Deconvolution example.
        - [Noh, Hong & Han, 2015](https://arxiv.org/abs/1505.04366), Learning
          Deconvolution Network for Semantic Segmentation.
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = checks.pair("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else checks.pair("strides", strides)
        self.padding = shapes.check_padding(padding)
        self.data_format = check_data_format(data_format)
        # No weights: built at construction, like Keras' own pooling layers.
        self.built = True

    def _last(self, shape):
        """A shape (tuple) in channels-last order."""
        shape = tuple(shape)
        if self.data_format == "channels_first" and len(shape) == 4:
            return (shape[0], shape[2], shape[3], shape[1])
        return shape

    def _back(self, shape):
        """A channels-last shape in the layer's `data_format`."""
        if self.data_format == "channels_first":
            return (shape[0], shape[3], shape[1], shape[2])
        return shape

    def _pooled_length(self, length, axis):
        if length is None:
            return None
        return shapes.pool_output_length(
            length, self.pool_size[axis], self.strides[axis], self.padding
        )

    def _check_shapes(self, input_shape):
        """The output shape (channels last), or a clear error naming both input
        shapes (given channels last)."""
        try:
            pooled_shape, input_shape_ = (tuple(s) for s in input_shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"{self.__class__.__name__} expects a list of two tensors "
                f"[pooled, pool_input], got input shape {input_shape}."
            ) from None
        for name, shape in (("pooled", pooled_shape), ("pool_input", input_shape_)):
            if len(shape) != 4:
                raise ValueError(
                    f"`{name}` must be a 4D tensor (batch, rows, cols, channels), "
                    f"got shape {shape}."
                )
        both = f"shapes {pooled_shape} and {input_shape_}"
        if None not in (pooled_shape[0], input_shape_[0]) and pooled_shape[0] != input_shape_[0]:
            raise ValueError(
                f"`pooled` has batch size {pooled_shape[0]} but `pool_input` has "
                f"{input_shape_[0]} ({both}): each pooled map must come from its own input."
            )
        if None not in (pooled_shape[3], input_shape_[3]) and pooled_shape[3] != input_shape_[3]:
            raise ValueError(
                f"`pooled` has {pooled_shape[3]} channels but `pool_input` has "
                f"{input_shape_[3]}: {both}."
            )
        try:
            expected = tuple(self._pooled_length(input_shape_[1 + i], i) for i in (0, 1))
        except ValueError as error:
            raise ValueError(
                f"`pool_input` of shape {input_shape_} cannot be pooled with "
                f"pool_size={self.pool_size}, strides={self.strides}, "
                f"padding={self.padding!r}: {error}"
            ) from None
        for got, want in zip(pooled_shape[1:3], expected):
            if None not in (got, want) and got != want:
                raise ValueError(
                    "`pooled` must have the batch, rows, columns and channels that pooling "
                    f"`pool_input` gives: pooling shape {input_shape_} with "
                    f"pool_size={self.pool_size}, strides={self.strides}, "
                    f"padding={self.padding!r} gives (batch, {expected[0]}, {expected[1]}, "
                    f"{input_shape_[3]}), got `pooled` of shape {pooled_shape}."
                    + self._positions_hint(pooled_shape, input_shape_)
                )
        batch = input_shape_[0] if input_shape_[0] is not None else pooled_shape[0]
        channels = input_shape_[3] if input_shape_[3] is not None else pooled_shape[3]
        return (batch, *input_shape_[1:3], channels)

    def _positions_hint(self, pooled_shape, second_shape):
        if tuple(pooled_shape[1:3]) == tuple(second_shape[1:3]):
            return (
                " If the second tensor holds positions (from MaxPoolingWithPositions2D), "
                "pass the output size too: [pooled, positions, like] or "
                "output_size=(rows, cols)."
            )
        return ""

    def _split(self, inputs, output_size):
        """`(pooled, second, like_or_None, from_positions)` from the call's inputs."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(
                f"{self.__class__.__name__} expects a list [pooled, pool_input], "
                "[pooled, positions, like] or [pooled, positions] with output_size=(rows, cols), "
                "a list of two tensors or three."
            )
        if len(inputs) == 3 and output_size is not None:
            raise ValueError(
                "Pass the output size once: either a third tensor `like` or `output_size`, "
                f"got both (output_size={output_size!r})."
            )
        like = inputs[2] if len(inputs) == 3 else None
        return inputs[0], inputs[1], like, len(inputs) == 3 or output_size is not None

    def _positions_output_shape(self, pooled_shape, positions_shape, size):
        """The output shape (channels last) when unpooling from positions."""
        for name, shape in (("pooled", pooled_shape), ("positions", positions_shape)):
            if len(shape) != 4:
                raise ValueError(
                    f"`{name}` must be a 4D tensor (batch, rows, cols, channels), "
                    f"got shape {shape}."
                )
        if any(
            a is not None and b is not None and a != b
            for a, b in zip(pooled_shape, positions_shape)
        ):
            raise ValueError(
                "`positions` must have the shape of `pooled` (one offset per pooled value), "
                f"got `pooled` of shape {pooled_shape} and `positions` of shape "
                f"{positions_shape}."
            )
        self._check_shapes([pooled_shape, (pooled_shape[0], *size, pooled_shape[3])])
        return (pooled_shape[0], *size, pooled_shape[3])

    def compute_output_shape(self, input_shape, output_size=None):
        try:
            shapes_ = [self._last(s) for s in input_shape]
        except TypeError:
            shapes_ = input_shape
        if isinstance(shapes_, list) and (len(shapes_) == 3 or output_size is not None):
            if len(shapes_) == 3:
                output_size = tuple(shapes_[2])[1:3] if len(shapes_[2]) == 4 else None
                if output_size is None:
                    raise ValueError(f"`like` must be a 4D tensor, got shape {shapes_[2]}.")
            return self._back(
                self._positions_output_shape(shapes_[0], shapes_[1], tuple(output_size))
            )
        return self._back(self._check_shapes(shapes_))

    def compute_output_spec(self, inputs, output_size=None):
        if output_size is not None:
            output_size = checks.pair("output_size", output_size)
        pooled, *_ = self._split(inputs, output_size)
        shape = self.compute_output_shape([tuple(x.shape) for x in inputs], output_size)
        dtype = pooled.dtype if is_float_dtype(pooled.dtype) else self.compute_dtype
        return keras.KerasTensor(shape, dtype=dtype)

    def call(self, inputs, output_size=None):
        if output_size is not None:
            output_size = checks.pair("output_size", output_size)
        pooled, second, like, from_positions = self._split(inputs, output_size)
        # Integer and bool maps (a mask, a label image) are unpooled as the
        # layer's float dtype: max pooling and unpooling only compare them.
        pooled = ops.convert_to_tensor(pooled)
        if not is_float_dtype(pooled.dtype):
            pooled = ops.cast(pooled, self.compute_dtype)
        pooled = to_channels_last(pooled, self.data_format)
        second = to_channels_last(ops.convert_to_tensor(second), self.data_format)
        if from_positions:
            if like is not None:
                like = to_channels_last(ops.convert_to_tensor(like), self.data_format)
                # Only the size is read: in a graph the map itself is not kept.
                known = kernels.known_shape(like.shape)
                output_size = tuple(
                    known[1 + i] if known[1 + i] is not None else ops.shape(like)[1 + i]
                    for i in (0, 1)
                )
            size = tuple(d if isinstance(d, int) else None for d in output_size)
            self._positions_output_shape(
                kernels.known_shape(pooled.shape), kernels.known_shape(second.shape), size
            )
            out = kernels.max_unpool2d_from_positions(
                pooled, second, output_size, self.pool_size, self.strides, self.padding
            )
            return from_channels_last(out, self.data_format)
        if not is_float_dtype(second.dtype):
            second = ops.cast(second, self.compute_dtype)
        # Eager calls skip Keras' symbolic shape pass: check here too (static
        # shapes only; sizes known only at run time are checked by the kernel,
        # and symbolic sizes, as jax2tf's exporter traces, count as unknown).
        self._check_shapes([kernels.known_shape(pooled.shape), kernels.known_shape(second.shape)])
        out = kernels.max_unpool2d(pooled, second, self.pool_size, self.strides, self.padding)
        return from_channels_last(out, self.data_format)

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
