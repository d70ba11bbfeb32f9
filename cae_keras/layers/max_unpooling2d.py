"""Max unpooling that finds the maxima from the pooling input, as CNTK does."""

import keras
from keras import ops

from cae_keras import checks, kernels, shapes


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
    deconvnets and of Noh et al.'s switch variables. Like CNTK's
    `MaxUnpooling(pooled, pool_input)`, it recomputes the positions from the
    pooling input instead of storing them during pooling, so the pooling
    layer stays an ordinary `MaxPooling2D`.

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
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: a list of two tensors `[pooled, pool_input]`: the output of a
            max pooling with these arguments and that pooling's input. The
            same order as CNTK's `MaxUnpooling(pool1, conv1)`.

    Input shape:
        `pooled`: 4D tensor `(batch_size, pooled_rows, pooled_cols, channels)`.
        `pool_input`: 4D tensor `(batch_size, rows, cols, channels)`, with the
        same batch size and channels, such that pooling it gives
        `(pooled_rows, pooled_cols)`. Any dimension may be unknown. Channels
        last.

    Output shape:
        4D tensor with the shape of `pool_input`.

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

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = checks.pair("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else checks.pair("strides", strides)
        self.padding = shapes.check_padding(padding)
        # No weights: built at construction, like Keras' own pooling layers.
        self.built = True

    def _pooled_length(self, length, axis):
        if length is None:
            return None
        return shapes.pool_output_length(
            length, self.pool_size[axis], self.strides[axis], self.padding
        )

    def _check_shapes(self, input_shape):
        """The output shape, or a clear error naming both input shapes."""
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
                )
        batch = input_shape_[0] if input_shape_[0] is not None else pooled_shape[0]
        channels = input_shape_[3] if input_shape_[3] is not None else pooled_shape[3]
        return (batch, *input_shape_[1:3], channels)

    def compute_output_shape(self, input_shape):
        return self._check_shapes(input_shape)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                f"{self.__class__.__name__} expects a list of two tensors [pooled, pool_input]."
            )
        # Integer and bool maps (a mask, a label image) are unpooled as the
        # layer's float dtype: max pooling and unpooling only compare them.
        pooled, pool_input = (
            x
            if keras.backend.standardize_dtype(x.dtype).startswith(("float", "bfloat"))
            else ops.cast(x, self.compute_dtype)
            for x in (ops.convert_to_tensor(x) for x in inputs)
        )
        # Eager calls skip Keras' symbolic shape pass: check here too (static
        # shapes only; sizes known only at run time are checked by the kernel,
        # and symbolic sizes, as jax2tf's exporter traces, count as unknown).
        self._check_shapes(
            [kernels.known_shape(pooled.shape), kernels.known_shape(pool_input.shape)]
        )
        return kernels.max_unpool2d(pooled, pool_input, self.pool_size, self.strides, self.padding)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
            }
        )
        return config
