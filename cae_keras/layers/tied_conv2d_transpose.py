"""A transposed convolution that borrows the kernel of a Conv2D layer."""

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

    Which weights are whose: `layer.weights` lists the shared kernel and the
    bias, and `layer.count_params()` counts both, as for any Keras layer; a
    model counts each variable once, so a tied model has one kernel fewer
    than its untied twin. `layer.trainable` governs the bias alone: the
    kernel trains unless `source.trainable` is `False`.

    Copies: `model.save` and `keras.saving.load_model` keep the tie (the
    loaded decoder uses the loaded encoder's kernel). A config alone cannot:
    `keras.models.clone_model` and `Model.from_config(model.get_config())`
    would give the copy's decoder a new layer's kernel, so they refuse with
    an error saying so, never a silent untie.

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
    def trainable(self):
        """Whether this layer trains its own bias. The shared kernel's
        trainability stays `source`'s: set `source.trainable` for that."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for variable in self._own_variables() if getattr(self, "built", False) else []:
            variable.trainable = self._trainable

    @property
    def source(self):
        """The `Conv2D` layer whose kernel this layer uses."""
        return self._source

    @property
    def kernel(self):
        """`source.kernel` itself, of shape `(rows, cols, out_channels, in_channels)`."""
        return self._source.kernel

    def build(self, input_shape):
        self._check_source_built()
        self._check_rank(input_shape)
        if input_shape[self._channel_axis] != self._source.filters:
            raise ValueError(
                f"{self.name!r} takes {self._source.filters} channels (the filters "
                f"of `source` {self._source.name!r}), got input shape {input_shape}."
            )
        # Listed here too (Keras lists each variable once per model), so that a
        # model holding this layer but not `source` still trains the kernel.
        # Tracking a variable in a frozen layer freezes it: the kernel's
        # trainability is `source`'s, so it is put back.
        kernel_trainable = self._source.kernel.trainable
        self._track_variable(self._source.kernel)
        self._source.kernel.trainable = kernel_trainable
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

    def _check_source_built(self):
        if self._source.built:
            return
        if getattr(self, "_source_from_config", False):
            raise ValueError(
                f"{self.name!r} was rebuilt from its config alone (as "
                "`keras.models.clone_model` and `Model.from_config(model.get_config())` "
                f"rebuild it), so its `source` {self._source.name!r} is a new layer that no "
                "model calls, not the model's own: the tie cannot be restored from a config. "
                "Save the model as a .keras file and load it (the tie is kept), or build a "
                "new model with the function that built it."
            )
        raise ValueError(
            f"`source` layer {self._source.name!r} must be built (called on its "
            f"input) before {self.name!r}, whose kernel it provides."
        )

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        self._check_source_built()
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
        # Saved inside a model (`model.save`), Keras records `source` once and
        # gives both places the same layer back on loading. Outside that (a
        # config copied by `clone_model` or `from_config`) the copy would be a
        # new layer with a kernel of its own: without its build, it cannot
        # silently stand in for the model's (see `_check_source_built`).
        source = keras.saving.serialize_keras_object(self._source)
        source.pop("build_config", None)
        config.update(
            {
                "source": source,
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
        source = keras.saving.deserialize_keras_object(config["source"])
        layer = cls(**{**config, "source": source})
        # Not built: a new layer from the config, not the model's own.
        layer._source_from_config = not source.built
        return layer
