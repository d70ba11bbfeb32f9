"""Max unpooling that finds the maxima from the pooling input, as CNTK does."""

import keras
from keras import ops

from cae_keras import shapes
from cae_keras.layers._args import pair as _pair


@keras.saving.register_keras_serializable(package="cae_keras")
class MaxUnpooling2D(keras.layers.Layer):
    """Max unpooling for 2D spatial data, the inverse of `MaxPooling2D`'s choice.

    Each value of `pooled` is written at the position where the maximum of its
    pooling window was in `pool_input`; every other position is zero. Where the
    maximum is tied (for example an all-zero window after a ReLU), only the
    first maximum in row-major order receives the value, the one that
    `tf.nn.max_pool_with_argmax` and PyTorch pick. With overlapping windows
    (`strides` smaller than `pool_size`) the values sent to one position add
    up, so the layer is exactly the transpose of max pooling's selection.

    Unlike `UpSampling2D`, which copies each value over its whole window, this
    puts the detail back where it came from, the idea of Zeiler & Fergus'
    deconvnets and of Noh et al.'s switch variables. Like CNTK's
    `MaxUnpooling(pooled, pool_input)`, it recomputes the positions from the
    pooling input instead of storing them during pooling, so the pooling
    layer stays an ordinary `MaxPooling2D`.

    The output has the shape of `pool_input`; with `padding="valid"`, rows and
    columns that no window covers stay zero.

    Gradients: the gradient with respect to `pooled` is exact (each pooled
    position receives the upstream gradient at the position it was sent to).
    `pool_input` only chooses positions and receives no gradient.

    Speed: the layer is a chain of elementwise `keras.ops` that XLA fuses into
    a single pass, as Keras' `fit` and `predict` compile it on TensorFlow by
    default (`jit_compile="auto"`). There it costs about as much as
    `UpSampling2D`; in a plain graph without XLA it is several times slower
    (see `benchmarks/unpooling.py`).

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
        same channels and static `rows` and `cols`, such that pooling it gives
        `(pooled_rows, pooled_cols)`. Channels last.

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
        self.pool_size = _pair("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _pair("strides", strides)
        self.padding = shapes.check_padding(padding)

    def _pooled_shape(self, rows, cols):
        return tuple(
            shapes.pool_output_length(n, k, s, self.padding)
            for n, k, s in zip((rows, cols), self.pool_size, self.strides)
        )

    def _check_shapes(self, input_shape):
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
        rows, cols, channels = input_shape_[1:]
        if rows is None or cols is None or channels is None:
            raise ValueError(
                f"`pool_input` needs static rows, cols and channels, got shape {input_shape_}."
            )
        if pooled_shape[3] != channels:
            raise ValueError(
                f"`pooled` has {pooled_shape[3]} channels but `pool_input` has "
                f"{channels}: shapes {pooled_shape} and {input_shape_}."
            )
        try:
            expected = self._pooled_shape(rows, cols)
        except ValueError as error:
            raise ValueError(
                f"`pool_input` of shape {input_shape_} cannot be pooled with "
                f"pool_size={self.pool_size}, strides={self.strides}, "
                f"padding={self.padding!r}: {error}"
            ) from None
        if tuple(pooled_shape[1:3]) != expected:
            raise ValueError(
                f"`pooled` has shape {pooled_shape}, but pooling `pool_input` of "
                f"shape {input_shape_} with pool_size={self.pool_size}, "
                f"strides={self.strides}, padding={self.padding!r} gives "
                f"(batch, {expected[0]}, {expected[1]}, {channels})."
            )
        return input_shape_

    def build(self, input_shape):
        self._check_shapes(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return self._check_shapes(input_shape)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                f"{self.__class__.__name__} expects a list of two tensors [pooled, pool_input]."
            )
        pooled, pool_input = inputs
        rows, cols, channels = pool_input.shape[1:]
        out_rows, out_cols = self._pooled_shape(rows, cols)
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        top, bottom, left, right = 0, 0, 0, 0
        if self.padding == "same":
            top, bottom = shapes.same_padding(rows, kh, sh)
            left, right = shapes.same_padding(cols, kw, sw)
        x = pool_input
        if top or bottom or left or right:
            # TensorFlow's SAME pooling ignores padded cells: pad with -inf.
            x = ops.pad(
                x,
                [[0, 0], [top, bottom], [left, right], [0, 0]],
                constant_values=float("-inf"),
            )
        out = self._unpool(pooled, x, out_rows, out_cols, channels)
        # `out` covers the windows; the padded input may be larger (VALID with
        # rows no window reaches) and the padding itself is cut away.
        extra_rows = rows + top + bottom - out.shape[1]
        extra_cols = cols + left + right - out.shape[2]
        if extra_rows > 0 or extra_cols > 0:
            out = ops.pad(out, [[0, 0], [0, max(extra_rows, 0)], [0, max(extra_cols, 0)], [0, 0]])
        return out[:, top : top + rows, left : left + cols, :]

    def _unpool(self, pooled, x, out_rows, out_cols, channels):
        # Walk the kh * kw offsets of a window: offset (a, b) of window (i, j)
        # is input cell (i * sh + a, j * sw + b), so each offset is one strided
        # slice. Every step is elementwise, which XLA fuses into one pass.
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        taps = {
            (a, b): x[
                :,
                a : a + sh * (out_rows - 1) + 1 : sh,
                b : b + sw * (out_cols - 1) + 1 : sw,
                :,
            ]
            for a in range(kh)
            for b in range(kw)
        }
        if kh * kw <= 4:
            # Few taps: their maximum fuses with the rest of the chain.
            window_max = ops.max(ops.stack(list(taps.values()), axis=-1), axis=-1)
        else:
            # Many taps: one pooling pass is cheaper than stacking them all.
            window_max = ops.max_pool(x, (kh, kw), (sh, sw), padding="valid")
        # Output cell (i * sh + a) is row (i + a // sh) of residue class a % sh:
        # sum each class on a grid one block larger per overhang, then interleave.
        over_h, over_w = (kh - 1) // sh, (kw - 1) // sw
        blocks = {}
        taken = None
        zero = ops.zeros((), pooled.dtype)
        for (a, b), tap in taps.items():
            hit = ops.equal(tap, window_max)
            if taken is not None:
                hit = ops.logical_and(hit, ops.logical_not(taken))
            taken = hit if taken is None else ops.logical_or(taken, hit)
            part = ops.pad(
                ops.where(hit, pooled, zero),
                [
                    [0, 0],
                    [a // sh, over_h - a // sh],
                    [b // sw, over_w - b // sw],
                    [0, 0],
                ],
            )
            key = (a % sh, b % sw)
            blocks[key] = part if key not in blocks else blocks[key] + part
        empty = ops.zeros_like(next(iter(blocks.values())))
        grid = ops.stack(
            [
                ops.stack([blocks.get((ra, rb), empty) for rb in range(sw)], axis=3)
                for ra in range(sh)
            ],
            axis=2,
        )
        rows, cols = (out_rows + over_h) * sh, (out_cols + over_w) * sw
        out = ops.reshape(grid, (-1, rows, cols, channels))
        return out[:, : min(rows, x.shape[1]), : min(cols, x.shape[2]), :]

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
