"""Cropping one tensor to the rows and columns of another, for any size."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cae_keras")
class CropLike(keras.layers.Layer):
    """Crop `x` to the rows and columns of `reference`, keeping the top-left.

    Doubling with `UpSampling2D(2)` or a stride-2 `Conv2DTranspose` turns a
    SAME-pooled odd size back into an even one: a 61-row map pools to 31 rows
    and comes back as 62. The decoder of a fully convolutional model crops the
    extra row (the one SAME pooling padded after the image) to meet the
    encoder's map again. `MaxUnpooling2D` needs no such layer: it returns the
    shape of its `pool_input`.

    Call arguments:
        inputs: `[x, reference]`, two 4D tensors, channels last; `x` at least
            as large as `reference` in rows and columns.

    Input shape:
        `x`: `(batch, rows, cols, channels)`; `reference`: `(batch,
        ref_rows, ref_cols, any)`.

    Output shape:
        `(batch, ref_rows, ref_cols, channels)`.

    Example:

    >>> x, ref = keras.ops.ones((1, 62, 84, 3)), keras.ops.ones((1, 61, 83, 8))
    >>> tuple(CropLike()([x, ref]).shape)
    (1, 61, 83, 3)
    """

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = (tuple(s) for s in input_shape)
        for name, shape in (("x", x_shape), ("reference", ref_shape)):
            if len(shape) != 4:
                raise ValueError(
                    f"`{name}` must be a 4D tensor (batch, rows, cols, channels), got {shape}."
                )
        for axis in (1, 2):
            if None not in (x_shape[axis], ref_shape[axis]) and x_shape[axis] < ref_shape[axis]:
                raise ValueError(
                    f"`x` of shape {x_shape} is smaller than `reference` of shape {ref_shape}: "
                    "cropping cannot make it larger."
                )
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])

    def call(self, inputs):
        x, reference = inputs
        self.compute_output_shape([tuple(x.shape), tuple(reference.shape)])
        size = ops.shape(reference)
        return x[:, : size[1], : size[2], :]
