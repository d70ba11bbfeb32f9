"""A transposed convolution that borrows the kernel of a Conv2D layer."""

import math

import keras
from keras import ops

from cae_keras import checks, shapes


@keras.saving.register_keras_serializable(package="cae_keras")
class TiedConv2DTranspose(keras.layers.Layer):
    """Transposed convolution whose kernel is another `Conv2D` layer's kernel.

    A tied-weights autoencoder decodes with the transpose of each encoder
    convolution: this layer runs `conv_transpose` with the *same variable* as
    `source.kernel`, so the pair has one kernel, trained by the gradients from
    both sides, and only the bias (one per output channel) is its own. The
    output has `source`'s input channels, and with `source`'s `strides`,
    `padding` and `dilation_rate` (the defaults) it is the adjoint of
    `source`: its output is the gradient of `source` with respect to its input,
    evaluated with this layer's input as the upstream gradient.

    The tie holds across models too: the shared kernel is listed among this
    layer's weights (and so in any model holding it), and saved by `source`
    alone, so a model holding only the decoder still trains the kernel.

    The kernel is not flipped: a deep-learning `Conv2D` is a cross-correlation,
    and its transpose uses the kernel as stored (Lasagne needed
    `flip_filters=not conv.flip_filters` for the same result).

    Args:
        source: a `keras.layers.Conv2D` whose kernel is shared, with
            `groups=1`. It must be built (called) before this layer is built.
        strides: int, tuple of 2 integers, or `None` for `source`'s strides.
            Default `None`.
        padding: `"valid"`, `"same"`, or `None` for `source`'s padding.
            Default `None`.
        output_padding: int, tuple of 2 integers, or `None`: extra rows and
            columns after the output, to reach an input size that a strided
            `source` maps to the same output (as in `Conv2DTranspose`); each
            smaller than its stride. Default `None`.
        activation: activation function or its name. Default `None`.
        use_bias: whether the layer adds its own bias. Default `True`.
        bias_initializer: initializer for the bias. Default `"zeros"`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: a 4D tensor, typically the output of `source` (after any
            pooling has been undone).

    Input shape:
        4D tensor `(batch_size, rows, cols, source.filters)`, or `(batch_size,
        source.filters, rows, cols)` where `source` is `channels_first`: the
        layer works in its source's `data_format`.

    Output shape:
        4D tensor `(batch_size, new_rows, new_cols, source_input_channels)`
        (channels first where `source` is), with `new_rows` from
        `cae_keras.shapes.conv_transpose_output_length`.

    Example:

    >>> inputs = keras.Input((28, 28, 1))
    >>> conv = keras.layers.Conv2D(8, 5, name="conv1")
    >>> code = conv(inputs)
    >>> deconv = TiedConv2DTranspose(conv, name="deconv1")
    >>> deconv(code).shape
    (None, 28, 28, 1)
    >>> deconv.kernel is conv.kernel
    True

    Reference:
        - [Masci et al., 2011](https://doi.org/10.1007/978-3-642-21735-7_7),
          Stacked Convolutional Auto-Encoders for Hierarchical Feature
          Extraction.
    """

    def __init__(
        self,
        source,
        strides=None,
        padding=None,
        output_padding=None,
        activation=None,
        use_bias=True,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(source, keras.layers.Conv2D):
            raise ValueError(
                f"`source` must be a keras.layers.Conv2D, got {type(source).__name__}."
            )
        if getattr(source, "groups", 1) != 1:
            raise ValueError(
                f"`source` {source.name!r} has groups={source.groups}; "
                "TiedConv2DTranspose supports only groups=1."
            )
        # Plain attribute, not a tracked sublayer: the kernel belongs to
        # `source`, which saves it; this layer only lists it (see `build`).
        object.__setattr__(self, "_source", source)
        self.strides = checks.pair("strides", source.strides if strides is None else strides)
        self.padding = shapes.check_padding(source.padding if padding is None else padding)
        self.output_padding = (
            None
            if output_padding is None
            else checks.pair("output_padding", output_padding, minimum=0)
        )
        if self.output_padding is not None and any(
            p >= s for p, s in zip(self.output_padding, self.strides)
        ):
            raise ValueError(
                f"`output_padding` must be smaller than `strides` on each axis (it picks one "
                f"of the input sizes a strided `source` maps to the same output), got "
                f"output_padding={self.output_padding} with strides={self.strides}."
            )
        # The transpose works in the source's layout, so it is its adjoint in
        # either (channels_first sources included).
        self.data_format = source.data_format
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @property
    def source(self):
        """The `Conv2D` layer whose kernel this layer uses."""
        return self._source

    @property
    def kernel(self):
        """`source.kernel` itself, of shape `(rows, cols, out_channels, in_channels)`."""
        return self._source.kernel

    def build(self, input_shape):
        if not self._source.built:
            raise ValueError(
                f"`source` layer {self._source.name!r} must be built (called on its "
                f"input) before {self.name!r}, whose kernel it provides."
            )
        self._check_rank(input_shape)
        if input_shape[self._channel_axis] != self._source.filters:
            raise ValueError(
                f"{self.name!r} takes {self._source.filters} channels (the filters "
                f"of `source` {self._source.name!r}), got input shape {input_shape}."
            )
        # Listed here too (Keras lists each variable once per model), so that a
        # model holding this layer but not `source` still trains the kernel.
        self._track_variable(self._source.kernel)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.kernel.shape[2],),
                initializer=self.bias_initializer,
            )
        self.built = True

    @property
    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else 3

    def _check_rank(self, input_shape):
        if input_shape is None or len(input_shape) != 4:
            layout = "channels, rows, cols" if self._channel_axis == 1 else "rows, cols, channels"
            raise ValueError(
                f"{self.name!r} takes a 4D tensor (batch, {layout}), got input shape "
                f"{None if input_shape is None else tuple(input_shape)}."
            )

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        if not self._source.built:
            raise ValueError(
                f"`source` layer {self._source.name!r} must be built (called on its "
                f"input) before {self.name!r}, whose kernel it provides."
            )
        first = 2 if self._channel_axis == 1 else 1
        lengths = []
        for axis in (0, 1):
            length = input_shape[first + axis]
            if length is not None:
                length = shapes.conv_transpose_output_length(
                    length,
                    self._source.kernel_size[axis],
                    self.strides[axis],
                    self.padding,
                    None if self.output_padding is None else self.output_padding[axis],
                    self._source.dilation_rate[axis],
                )
            lengths.append(length)
        channels = self.kernel.shape[2]
        if self._channel_axis == 1:
            return (input_shape[0], channels, *lengths)
        return (input_shape[0], *lengths, channels)

    def _own_variables(self):
        return [self.bias] if self.use_bias else []

    def count_params(self):
        """The parameters this layer adds: its bias. The shared kernel is
        `source`'s, and counted there (a model counts each variable once)."""
        if not self.built:
            raise ValueError(
                f"{self.name!r} is not built yet: call it on its input (after `source`) "
                "before counting its parameters."
            )
        return sum(math.prod(v.shape) for v in self._own_variables())

    def save_own_variables(self, store):
        # The kernel is `source`'s to save: store the bias alone.
        for i, variable in enumerate(self._own_variables()):
            store[f"{i}"] = variable

    def load_own_variables(self, store):
        own = self._own_variables()
        if len(store.keys()) != len(own):
            raise ValueError(
                f"{self.name!r} expected {len(own)} saved variables, found {len(store.keys())}."
            )
        for i, variable in enumerate(own):
            variable.assign(store[f"{i}"])

    def call(self, inputs):
        kernel = ops.cast(self.kernel, self.compute_dtype)
        outputs = ops.conv_transpose(
            inputs,
            kernel,
            strides=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            data_format=self.data_format,
            dilation_rate=self._source.dilation_rate,
        )
        if self.use_bias:
            bias = ops.cast(self.bias, self.compute_dtype)
            if self._channel_axis == 1:
                bias = ops.reshape(bias, (-1, 1, 1))
            outputs = outputs + bias
        return self.activation(outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                # Saved inside a model, Keras stores `source` once and gives
                # both places the same layer back on loading.
                "source": keras.saving.serialize_keras_object(self._source),
                "strides": self.strides,
                "padding": self.padding,
                "output_padding": self.output_padding,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["source"] = keras.saving.deserialize_keras_object(config["source"])
        return cls(**config)
