"""The autoencoders the lessons port, built with `keras.Input`.

Layer names follow the sources (conv1, pool1, unpool1, deconv1 for CNTK's
single-layer example; conv_A ... deconv_A for its two-layer stack), so a student
finds the encoder the way the original did: by name.
"""

import keras
import numpy as np
from keras import layers

from cae_keras import checks
from cae_keras.layers import (
    CropLike,
    MaxPoolingWithPositions2D,
    MaxUnpooling2D,
    TiedConv2DTranspose,
    VariationalSampling,
)

IMAGE_SHAPE = (28, 28, 1)


def check_pool(name, pool, size=28):
    """A pooling window that tiles a `size` x `size` image exactly, as an
    `int`, or a clear error."""
    pool = checks.positive_int(name, pool)
    if pool < 2 or size % pool:
        raise ValueError(
            f"`{name}` must be at least 2 and divide the {size}x{size} input "
            f"exactly (2, 4, 7, 14 for 28), got {pool!r}."
        )
    return pool


def _unpool(kind, pool, name):
    if kind == "max":
        return lambda pooled, pool_input: MaxUnpooling2D(pool, name=name)([pooled, pool_input])
    if kind == "upsample":
        return lambda pooled, pool_input: layers.UpSampling2D(pool, name=name)(pooled)
    raise ValueError(f"`unpooling` must be 'max' or 'upsample', got {kind!r}.")


def _initializers(initializers):
    """Keyword arguments for the conv and deconv layers from a recipe's dict."""
    keys = ("conv_kernel", "conv_bias", "deconv_kernel")
    if initializers is not None and not isinstance(initializers, dict):
        raise ValueError(
            f"`initializers` must be None or a dict with keys among {list(keys)}, "
            f"got {initializers!r}."
        )
    initializers = dict(initializers or {})
    unknown = sorted(map(str, set(initializers) - set(keys)))
    if unknown:
        raise ValueError(
            "`initializers` takes the keys 'conv_kernel', 'conv_bias' and "
            f"'deconv_kernel', got {unknown}."
        )
    for key, value in initializers.items():
        try:
            keras.initializers.get(value)
        except (ValueError, TypeError):
            raise ValueError(
                f"`initializers[{key!r}]` must be a Keras initializer or its name "
                f"(such as 'glorot_uniform'), got {value!r}."
            ) from None
    conv = {
        "kernel_initializer": initializers.get("conv_kernel", "glorot_uniform"),
        "bias_initializer": initializers.get("conv_bias", "zeros"),
    }
    deconv = {"kernel_initializer": initializers.get("deconv_kernel", "glorot_uniform")}
    return conv, deconv


def cntk_autoencoder(cmap=1, pool=4, unpooling="max", name=None, initializers=None):
    """CNTK's single-layer convolutional autoencoder (07_Deconvolution).

    conv1: Conv2D 5x5, `cmap` filters, same padding, ReLU -> pool1: MaxPooling
    `pool` x `pool` -> unpool1: MaxUnpooling2D([pool1, conv1]) -> deconv1:
    Conv2DTranspose 5x5 to one channel, no bias. The code is `pool1`, of shape
    `(28 / pool, 28 / pool, cmap)`.

    Args:
        cmap: filters of conv1. The page's settings are 1 and 3.
        pool: pooling size and stride; must divide 28. The page's are 4 and 2.
        unpooling: `"max"` (CNTK's model) or `"upsample"`, the ablation with
            `UpSampling2D` in place of the unpooling (it ignores positions).
        name: model name. Default `cntk_c{cmap}_p{pool}`.
        initializers: optional dict with any of `"conv_kernel"`,
            `"conv_bias"` and `"deconv_kernel"` (Keras initializers or their
            names); the architecture stays CNTK's, a training recipe chooses
            how it starts. Default: Keras' defaults (Glorot uniform, zeros).

    Returns:
        A `keras.Model` from 28x28x1 images to 28x28x1 reconstructions.

    Example:

    >>> model = cntk_autoencoder(cmap=1, pool=4)
    >>> model.count_params(), model.get_layer("pool1").output.shape
    (51, (None, 7, 7, 1))
    """
    cmap = checks.positive_int("cmap", cmap)
    pool = check_pool("pool", pool, IMAGE_SHAPE[0])
    unpool = _unpool(unpooling, pool, "unpool1")
    conv_init, deconv_init = _initializers(initializers)
    suffix = "" if unpooling == "max" else "_upsample"
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    conv1 = layers.Conv2D(cmap, 5, padding="same", activation="relu", name="conv1", **conv_init)(
        inputs
    )
    pool1 = layers.MaxPooling2D(pool, name="pool1")(conv1)
    unpool1 = unpool(pool1, conv1)
    deconv1 = layers.Conv2DTranspose(
        1, 5, padding="same", use_bias=False, name="deconv1", **deconv_init
    )(unpool1)
    return keras.Model(inputs, deconv1, name=name or f"cntk_c{cmap}_p{pool}{suffix}")


def cntk_two_layer_autoencoder(
    cmap1=5, cmap2=1, pool=2, unpooling="max", name=None, initializers=None
):
    """CNTK's two-layer stack: two conv/pool pairs, two unpool/deconv pairs.

    conv_A (5x5, `cmap1`, ReLU) -> pool_A -> conv_B (5x5, `cmap2`, ReLU) ->
    pool_B (the code, 7x7 x `cmap2` with pool 2) -> unpool_B([pool_B, conv_B])
    -> deconv_B (5x5 to `cmap1`, no bias) -> unpool_A([deconv_B, conv_A])
    -> deconv_A (5x5 to one channel, no bias).

    Args:
        cmap1: filters of conv_A. Default 5, as on the page.
        cmap2: filters of conv_B. Default 1.
        pool: both poolings' size and stride; `pool * pool` must divide 28.
        unpooling: `"max"` or `"upsample"` (the ablation).
        name: model name.
        initializers: as for `cntk_autoencoder`, applied to both conv and
            both deconv layers.

    Returns:
        A `keras.Model` from 28x28x1 images to 28x28x1 reconstructions.
    """
    cmap1 = checks.positive_int("cmap1", cmap1)
    cmap2 = checks.positive_int("cmap2", cmap2)
    pool = check_pool("pool", pool, IMAGE_SHAPE[0])
    check_pool("pool", pool, IMAGE_SHAPE[0] // pool)
    conv_init, deconv_init = _initializers(initializers)
    conv = dict(padding="same", activation="relu", **conv_init)
    deconv = dict(padding="same", use_bias=False, **deconv_init)
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    conv_a = layers.Conv2D(cmap1, 5, name="conv_A", **conv)(inputs)
    pool_a = layers.MaxPooling2D(pool, name="pool_A")(conv_a)
    conv_b = layers.Conv2D(cmap2, 5, name="conv_B", **conv)(pool_a)
    pool_b = layers.MaxPooling2D(pool, name="pool_B")(conv_b)
    unpool_b = _unpool(unpooling, pool, "unpool_B")(pool_b, conv_b)
    deconv_b = layers.Conv2DTranspose(cmap1, 5, name="deconv_B", **deconv)(unpool_b)
    unpool_a = _unpool(unpooling, pool, "unpool_A")(deconv_b, conv_a)
    deconv_a = layers.Conv2DTranspose(1, 5, name="deconv_A", **deconv)(unpool_a)
    suffix = "" if unpooling == "max" else "_upsample"
    return keras.Model(inputs, deconv_a, name=name or f"cntk_two_layer{suffix}")


def encoder_of(model, code_layer=None):
    """The encoder of an autoencoder as its own model: input to code.

    Args:
        model: a functional autoencoder.
        code_layer: name of the layer whose output is the code. Default: the
            last `MaxPooling2D` (pool1 or pool_B in CNTK's models).

    Returns:
        A `keras.Model` sharing the autoencoder's layers and weights.
    """
    if code_layer is None:
        pools = [layer for layer in model.layers if isinstance(layer, layers.MaxPooling2D)]
        if not pools:
            raise ValueError(f"Model {model.name!r} has no MaxPooling2D layer: pass `code_layer`.")
        code_layer = pools[-1].name
    elif code_layer not in {layer.name for layer in model.layers}:
        raise ValueError(
            f"`code_layer` must name a layer of {model.name!r} "
            f"({[layer.name for layer in model.layers]}), got {code_layer!r}."
        )
    return keras.Model(
        model.inputs, model.get_layer(code_layer).output, name=f"{model.name}_encoder"
    )


def denoising_autoencoder(filters=(16, 32), unpooling="max"):
    """A small two-stage convolutional autoencoder for denoising (lesson 08).

    conv1 (`filters[0]`, 3x3, same, ReLU) -> pool1 2x2 -> conv2 (`filters[1]`,
    3x3, same, ReLU) -> pool2 2x2, a 7x7 x `filters[1]` code -> unpool2 ->
    deconv2 (`filters[0]`, 3x3, same, ReLU) -> unpool1 -> deconv1 (1, 3x3,
    same, sigmoid), back to 28x28x1 pixels in 0-1.

    Args:
        filters: filters of conv1 and conv2. Default `(16, 32)`.
        unpooling: `"max"`, `MaxUnpooling2D` with the positions from conv2
            and conv1, or `"upsample"`, `UpSampling2D`, which needs none.

    Returns:
        A `keras.Model` from 28x28x1 images to 28x28x1 images.

    Example:

    >>> denoising_autoencoder().get_layer("pool2").output.shape
    (None, 7, 7, 32)
    """
    if isinstance(filters, int) or len(filters) != 2:
        raise ValueError(f"`filters` must be a pair of positive integers, got {filters!r}.")
    f1, f2 = (checks.positive_int("filters", f) for f in filters)
    unpool1, unpool2 = _unpool(unpooling, 2, "unpool1"), _unpool(unpooling, 2, "unpool2")
    image = keras.Input(IMAGE_SHAPE, name="image")
    conv1 = layers.Conv2D(f1, 3, padding="same", activation="relu", name="conv1")(image)
    pool1 = layers.MaxPooling2D(2, name="pool1")(conv1)
    conv2 = layers.Conv2D(f2, 3, padding="same", activation="relu", name="conv2")(pool1)
    pool2 = layers.MaxPooling2D(2, name="pool2")(conv2)
    x = unpool2(pool2, conv2)
    x = layers.Conv2DTranspose(f1, 3, padding="same", activation="relu", name="deconv2")(x)
    x = unpool1(x, conv1)
    x = layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid", name="deconv1")(x)
    return keras.Model(image, x, name=f"denoising_{unpooling}")


def with_positions_from(model):
    """A trained max-unpooling `denoising_autoencoder` rewired to take its
    unpooling positions from a second image: values from the first input,
    positions from the second.

    Feeding `[noisy, clean]` asks what the denoiser would do if its positions
    were not noisy: the same layers and weights (shared, not copied), only
    `conv1` and `conv2` run a second time on the clean image to choose where
    each unpooled value goes.

    Args:
        model: a model from `denoising_autoencoder(unpooling="max")`.

    Returns:
        A `keras.Model` from `[values_image, positions_image]` to 28x28x1.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            "`model` must come from denoising_autoencoder(unpooling='max'), got "
            f"{type(model).__name__}."
        )
    names = {layer.name for layer in model.layers}
    if not {"conv1", "pool1", "conv2", "pool2", "unpool2", "unpool1"} <= names or not isinstance(
        model.get_layer("unpool1"), MaxUnpooling2D
    ):
        raise ValueError(
            f"`model` must come from denoising_autoencoder(unpooling='max'), got {model.name!r}."
        )
    layer = model.get_layer
    values = keras.Input(IMAGE_SHAPE, name="values_image")
    positions = keras.Input(IMAGE_SHAPE, name="positions_image")
    conv1_v, conv1_p = layer("conv1")(values), layer("conv1")(positions)
    conv2_v = layer("conv2")(layer("pool1")(conv1_v))
    conv2_p = layer("conv2")(layer("pool1")(conv1_p))
    x = layer("unpool2")([layer("pool2")(conv2_v), conv2_p])
    x = layer("unpool1")([layer("deconv2")(x), conv1_p])
    return keras.Model([values, positions], layer("deconv1")(x), name=f"{model.name}_positions")


def _latent_encoder_trunk(image):
    """Lesson 06's two stride-2 convolutions, 28x28 -> 7x7x64, shared by its
    autoencoder and lesson 09's VAE."""
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv1")(image)
    return layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv2")(x)


def _latent_decoder_tail(y, activation=None):
    """Lesson 06's last two transposed convolutions, 7x7x64 -> 28x28x1."""
    y = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="deconv2")(
        y
    )
    return layers.Conv2DTranspose(
        1, 7, strides=2, padding="same", activation=activation, name="deconv3"
    )(y)


def latent_autoencoder(latent_dim=2):
    """The 2-D latent convolutional autoencoder: encoder, decoder, autoencoder.

    Encoder: Conv2D(32, 3, strides 2, same, ReLU) -> Conv2D(64, 3, strides 2,
    same, ReLU) -> Conv2D(latent_dim, 7, valid), a 1x1 x `latent_dim` code.
    Decoder: Conv2DTranspose(64, 7, valid, ReLU) -> Conv2DTranspose(32, 3,
    strides 2, same, ReLU) -> Conv2DTranspose(1, 7, strides 2, same).

    Returns:
        `(encoder, decoder, autoencoder)`: the encoder maps images to codes of
        shape `(1, 1, latent_dim)`, the decoder maps codes back to 28x28x1.

    Example:

    >>> encoder, decoder, autoencoder = latent_autoencoder()
    >>> encoder.output.shape, decoder.output.shape
    ((None, 1, 1, 2), (None, 28, 28, 1))
    """
    latent_dim = checks.positive_int("latent_dim", latent_dim)
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = _latent_encoder_trunk(image)  # built first: layers draw their initial weights in order
    code = layers.Conv2D(latent_dim, 7, padding="valid", name="code")(x)
    encoder = keras.Model(image, code, name="encoder")

    code_in = keras.Input((1, 1, latent_dim), name="code")
    y = layers.Conv2DTranspose(64, 7, padding="valid", activation="relu", name="deconv1")(code_in)
    decoder = keras.Model(code_in, _latent_decoder_tail(y), name="decoder")

    autoencoder = keras.Model(image, decoder(encoder(image)), name="latent_autoencoder")
    return encoder, decoder, autoencoder


def _vae_decoder(latent_dim, name):
    """The decoder of lesson 09: lesson 06's shapes, a Dense first layer, a sigmoid."""
    code_in = keras.Input((1, 1, latent_dim), name="code")
    # A 7x7 VALID transposed convolution of a 1x1 code is a Dense layer to 7x7x64
    # with one bias per channel; as a Dense layer it has one bias per pixel, so
    # moving every code by the same amount costs the reconstruction nothing,
    # and the KL term can centre the codes on the prior.
    y = layers.Flatten(name="flatten")(code_in)
    y = layers.Dense(7 * 7 * 64, activation="relu", name="deconv1")(y)
    y = layers.Reshape((7, 7, 64), name="reshape")(y)
    return keras.Model(code_in, _latent_decoder_tail(y, "sigmoid"), name=name)


def variational_autoencoder(latent_dim=2, beta=1.0, seed=None):
    """Lesson 06's autoencoder made variational: encoder, decoder, VAE.

    The encoder's two convolutions are lesson 06's; its last layer is split
    in two heads, `z_mean` and `z_log_var` (Conv2D(latent_dim, 7, valid)
    each). `VariationalSampling` draws the code and adds `beta` times the KL
    term. The decoder has lesson 06's shapes (1x1 -> 7x7x64 -> 14x14x32 ->
    28x28x1) with two changes: its first layer is a Dense layer to 7x7x64, the
    same map as lesson 06's 7x7 transposed convolution of a 1x1 code but with
    a bias per pixel, so the KL term can move the codes to the prior's centre
    at no cost to the reconstruction; and a sigmoid on its last layer, since
    the reconstruction term is a Bernoulli likelihood
    (`metrics.summed_binary_crossentropy`).

    Args:
        latent_dim: numbers in the code. Default 2.
        beta: weight of the KL term. Default 1.0.
        seed: seed of the sampling noise. Default `None`.

    Returns:
        `(encoder, decoder, vae)`: the encoder maps images to `[z_mean,
        z_log_var]`, each `(1, 1, latent_dim)`; the decoder maps a code to
        28x28x1 pixels in 0-1; the VAE maps images to reconstructions.

    Example:

    >>> encoder, decoder, vae = variational_autoencoder()
    >>> [tuple(t.shape) for t in encoder.outputs], tuple(vae.output.shape)
    ([(None, 1, 1, 2), (None, 1, 1, 2)], (None, 28, 28, 1))
    """
    latent_dim = checks.positive_int("latent_dim", latent_dim)
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = _latent_encoder_trunk(image)
    z_mean = layers.Conv2D(latent_dim, 7, padding="valid", name="z_mean")(x)
    z_log_var = layers.Conv2D(latent_dim, 7, padding="valid", name="z_log_var")(x)
    encoder = keras.Model(image, [z_mean, z_log_var], name="vae_encoder")
    decoder = _vae_decoder(latent_dim, "vae_decoder")
    mean, log_var = encoder(image)
    code = VariationalSampling(beta=beta, seed=seed, name="sampling")([mean, log_var])
    vae = keras.Model(image, decoder(code), name="variational_autoencoder")
    return encoder, decoder, vae


def variational_twin(latent_dim=2):
    """The VAE without what makes it variational: its autoencoder twin.

    The same encoder trunk with the `z_mean` head alone, the same decoder, no
    sampling and no KL term. Trained with the same reconstruction loss, it
    shows what the sampling and the KL term change, and nothing else.

    Returns:
        `(encoder, decoder, autoencoder)`, shaped as `variational_autoencoder`'s
        (the encoder outputs the code alone).

    Example:

    >>> encoder, decoder, autoencoder = variational_twin()
    >>> tuple(encoder.output.shape), autoencoder.count_params()
    ((None, 1, 1, 2), 54531)
    """
    latent_dim = checks.positive_int("latent_dim", latent_dim)
    image = keras.Input(IMAGE_SHAPE, name="image")
    code = layers.Conv2D(latent_dim, 7, padding="valid", name="z_mean")(
        _latent_encoder_trunk(image)
    )
    encoder = keras.Model(image, code, name="twin_encoder")
    decoder = _vae_decoder(latent_dim, "twin_decoder")
    return encoder, decoder, keras.Model(image, decoder(code), name="variational_twin")


TIED_LAYERS = ("deconv1", "deconv2")


def tied_autoencoder(tied=True, dropout=0.5):
    """The Lasagne tied-weights autoencoder, or its untied twin, or a mix.

    conv1 (32, 5x5, tanh) -> pool1 -> conv2 (32, 5x5, tanh) -> pool2 -> flatten
    (512) -> dropout1 -> dense1 256 -> dropout2 -> dense2 512 -> reshape 4x4x32
    -> upsample 2 -> deconv2 (transposed conv with conv2's kernel, tanh) ->
    upsample 2 -> deconv1 (transposed conv with conv1's kernel), back to 28x28x1.
    As in the Lasagne model, dropout acts on the input of each dense layer.

    Args:
        tied: which decoder layers borrow their encoder twin's kernel
            (`TiedConv2DTranspose`; the others own theirs, `Conv2DTranspose`
            with the same shapes): `True` both (the Lasagne model), `False`
            neither (the untied twin), or a list of names from `"deconv1"`
            (conv1's kernel) and `"deconv2"` (conv2's).
        dropout: dropout rate on the input of each dense layer. Default 0.5.

    Returns:
        A `keras.Model` from 28x28x1 images to 28x28x1 reconstructions, named
        `tied_autoencoder`, `untied_autoencoder` or `tied_deconv1_autoencoder`
        (and so on) for a mix.

    Example:

    >>> only = tied_autoencoder(tied=["deconv1"])
    >>> type(only.get_layer("deconv1")).__name__, type(only.get_layer("deconv2")).__name__
    ('TiedConv2DTranspose', 'Conv2DTranspose')
    """
    if isinstance(tied, bool):
        tied_names = set(TIED_LAYERS) if tied else set()
    elif isinstance(tied, (list, tuple, set, frozenset)) and set(tied) <= set(TIED_LAYERS):
        tied_names = set(tied)
    else:
        raise ValueError(
            f"`tied` must be True, False or a list of names from {list(TIED_LAYERS)}, got {tied!r}."
        )
    dropout = checks.rate("dropout", dropout)
    image = keras.Input(IMAGE_SHAPE, name="image")
    conv1 = layers.Conv2D(32, 5, activation="tanh", name="conv1")
    conv2 = layers.Conv2D(32, 5, activation="tanh", name="conv2")
    x = layers.MaxPooling2D(2, name="pool1")(conv1(image))  # 24 -> 12
    x = layers.MaxPooling2D(2, name="pool2")(conv2(x))  # 8 -> 4
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout1")(x)
    x = layers.Dense(256, activation="tanh", name="dense1")(x)
    x = layers.Dropout(dropout, name="dropout2")(x)
    x = layers.Dense(512, activation="tanh", name="dense2")(x)
    x = layers.Reshape((4, 4, 32), name="reshape")(x)
    x = layers.UpSampling2D(2, name="upsample2")(x)  # 4 -> 8
    if "deconv2" in tied_names:
        x = TiedConv2DTranspose(conv2, activation="tanh", name="deconv2")(x)  # 8 -> 12
    else:
        x = layers.Conv2DTranspose(32, 5, activation="tanh", name="deconv2")(x)
    x = layers.UpSampling2D(2, name="upsample1")(x)  # 12 -> 24
    if "deconv1" in tied_names:
        x = TiedConv2DTranspose(conv1, name="deconv1")(x)  # 24 -> 28
    else:
        x = layers.Conv2DTranspose(1, 5, name="deconv1")(x)
    if tied_names == set(TIED_LAYERS):
        name = "tied_autoencoder"
    elif not tied_names:
        name = "untied_autoencoder"
    else:
        name = "tied_" + "_".join(sorted(tied_names)) + "_autoencoder"
    return keras.Model(image, x, name=name)


def small_encoder(code_size=64, name="encoder"):
    """Lesson 11's encoder: the image to a code of `code_size` numbers.

    conv1 (32, 3x3, stride 2, ReLU) 28 -> 14 -> conv2 (64, 3x3, stride 2,
    ReLU) 14 -> 7 -> flatten (3136) -> code (Dense, `code_size`, ReLU).

    Example:

    >>> small_encoder(64).output.shape
    (None, 64)
    """
    code_size = checks.positive_int("code_size", code_size)
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv1")(image)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = layers.Flatten(name="flatten")(x)
    code = layers.Dense(code_size, activation="relu", name="code")(x)
    return keras.Model(image, code, name=name)


def small_autoencoder(code_size=64):
    """Lesson 11's autoencoder: `small_encoder` and its mirror image.

    The decoder: Dense 7x7x64 (ReLU) -> reshape -> deconv2 (Conv2DTranspose
    32, 3x3, stride 2, ReLU) 7 -> 14 -> deconv1 (Conv2DTranspose 1, 3x3,
    stride 2, sigmoid) 14 -> 28, so it trains with binary cross-entropy.

    Returns:
        `(encoder, decoder, autoencoder)`, sharing their layers.

    Example:

    >>> encoder, decoder, autoencoder = small_autoencoder(16)
    >>> encoder.output.shape, autoencoder.output.shape
    ((None, 16), (None, 28, 28, 1))
    """
    encoder = small_encoder(code_size)
    code = keras.Input((encoder.output.shape[-1],), name="code")
    y = layers.Dense(7 * 7 * 64, activation="relu", name="expand")(code)
    y = layers.Reshape((7, 7, 64), name="reshape")(y)
    y = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="deconv2")(
        y
    )
    y = layers.Conv2DTranspose(
        1, 3, strides=2, padding="same", activation="sigmoid", name="deconv1"
    )(y)
    decoder = keras.Model(code, y, name="decoder")
    autoencoder = keras.Model(encoder.input, decoder(encoder.output), name="small_autoencoder")
    return encoder, decoder, autoencoder


def classifier_on(encoder, trainable=True, classes=10, name="classifier"):
    """A classifier made of a copy of `encoder` and a softmax layer.

    The copy starts from `encoder`'s weights and shares none of its
    variables, so several classifiers can start from one pretrained encoder.

    Args:
        encoder: a model from images to a flat code (`small_encoder`).
        trainable: whether training may change the encoder's copy (fine-
            tuning) or only the softmax layer (`False`: a linear probe of the
            code). Default `True`.
        classes: the number of classes. Default 10.
        name: the model's name.

    Returns:
        A `keras.Model` from images to class probabilities; its layers are
        `encoder` (the copy) and `head` (Dense, softmax).

    Example:

    >>> probe = classifier_on(small_encoder(8), trainable=False)
    >>> probe.output.shape, len(probe.trainable_weights)
    ((None, 10), 2)
    """
    if not isinstance(encoder, keras.Model) or len(encoder.output.shape) != 2:
        raise ValueError("`encoder` must be a keras.Model from images to a flat code.")
    if not isinstance(trainable, (bool, np.bool_)):
        raise ValueError(f"`trainable` must be True or False, got {trainable!r}.")
    classes = checks.positive_int("classes", classes, minimum=2)
    copy = keras.models.clone_model(encoder)
    copy.set_weights(encoder.get_weights())
    copy.name = "encoder"
    copy.trainable = bool(trainable)
    image = keras.Input(tuple(encoder.input.shape[1:]), name="image")
    probabilities = layers.Dense(classes, activation="softmax", name="head")(copy(image))
    return keras.Model(image, probabilities, name=name)


#: The decoders of the segmentation models, by what they pass from encoder to decoder.
SEGMENTATION_MODELS = ("segnet", "upsample", "unet")
#: Those, and SegNet unpooling from the pooling inputs instead of stored
#: positions (the same values, more memory): a row for measuring, not a default.
SEGMENTATION_KINDS = (*SEGMENTATION_MODELS, "segnet_pool_input")


def segmentation_model(kind="segnet", classes=11, widths=(16, 32, 64), convs=2):
    """A fully convolutional segmentation network on scenes of any size.

    The encoder is the same for every `kind`: at each level `convs` 3x3
    convolutions (ReLU, SAME) then a 2x2 max pooling with SAME padding, so
    odd sizes pool to `ceil(n / 2)` and nothing is dropped. The decoders
    differ in what they take from the encoder at each level:

    - `"segnet"` (SegNet / DeconvNet): the encoder pools with
      `MaxPoolingWithPositions2D`, and `MaxUnpooling2D([x, positions,
      pool_input])` puts each value back where its window's maximum was.
      It keeps one byte per pooled value (the positions) and reads only the
      pooling input's size, so it returns exactly that size.
    - `"segnet_pool_input"`: the same network, unpooling with
      `MaxUnpooling2D([x, pool_input])`, which finds the positions again from
      the pooling input: equal values, but the whole float32 map is kept
      until the decoder runs.
    - `"upsample"`: `UpSampling2D(2)` copies each value over its window,
      then `CropLike` trims the extra row or column an odd size gains. It
      takes nothing from the encoder: its twin with no positions.
    - `"unet"` (U-Net): up-sampling and cropping as `"upsample"`, then the
      encoder's whole feature map concatenated (all of its channels as
      floats), the modern peer.

    Every convolution is followed by batch normalisation and a ReLU, as in
    SegNet. At each decoder level `convs` 3x3 convolutions, the last one
    narrowing to the next level's width; then `classes`, a 1x1 convolution
    with softmax.

    Args:
        kind: one of `SEGMENTATION_KINDS`. Default `"segnet"`.
        classes: classes per pixel. Default 11 (background and ten digits).
        widths: filters per level, shallow to deep. Default `(16, 32, 64)`.
        convs: convolutions per level, encoder and decoder. Default 2.

    Returns:
        A `keras.Model` from `(batch, rows, cols, 1)` scenes of any size to
        `(batch, rows, cols, classes)` class probabilities, named `kind`.

    Example:

    >>> model = segmentation_model("segnet")
    >>> model.output.shape, model.get_layer("dec1_unpool").output.shape
    ((None, None, None, 11), (None, None, None, 16))
    """
    kind = checks.choice("kind", kind, SEGMENTATION_KINDS)
    classes = checks.positive_int("classes", classes, minimum=2)
    convs = checks.positive_int("convs", convs)
    if checks.is_int(widths) or isinstance(widths, str) or not hasattr(widths, "__iter__"):
        raise ValueError(f"`widths` must be a list of positive integers, got {widths!r}.")
    widths = [checks.positive_int("widths", w) for w in widths]
    if not widths:
        raise ValueError("`widths` must hold at least one level.")

    def conv(filters, name):
        # Conv, batch normalisation, ReLU, as SegNet's blocks: without the
        # normalisation a scene that is 95% background pulls every pixel to
        # "background" first, and small budgets never leave that start.
        def block(x):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
            return layers.Activation("relu", name=f"{name}_relu")(x)

        return block

    scene = keras.Input((None, None, 1), name="scene")
    x, skips, positions = scene, [], []
    for level, width in enumerate(widths, 1):
        for j in range(1, convs + 1):
            x = conv(width, f"enc{level}_conv{j}")(x)
        skips.append(x)
        if kind == "segnet":
            x, where = MaxPoolingWithPositions2D(2, padding="same", name=f"enc{level}_pool")(x)
            positions.append(where)
        else:
            x = layers.MaxPooling2D(2, padding="same", name=f"enc{level}_pool")(x)
    for level in range(len(widths), 0, -1):
        skip = skips[level - 1]
        if kind == "segnet":
            # The positions, and the size of the map they came from.
            unpool = MaxUnpooling2D(2, padding="same", name=f"dec{level}_unpool")
            x = unpool([x, positions[level - 1], skip])
        elif kind == "segnet_pool_input":
            x = MaxUnpooling2D(2, padding="same", name=f"dec{level}_unpool")([x, skip])
        else:
            x = layers.UpSampling2D(2, name=f"dec{level}_upsample")(x)
            x = CropLike(name=f"dec{level}_crop")([x, skip])
            if kind == "unet":
                x = layers.Concatenate(name=f"dec{level}_concat")([x, skip])
        narrow = widths[max(level - 2, 0)]
        for j in range(1, convs + 1):
            x = conv(widths[level - 1] if j < convs else narrow, f"dec{level}_conv{j}")(x)
    probabilities = layers.Conv2D(classes, 1, activation="softmax", name="classes")(x)
    return keras.Model(scene, probabilities, name=kind)
