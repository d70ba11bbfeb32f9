"""The models the commands train, built with `keras.Input`.

Each is an architecture a lesson writes out layer by layer;
`tests/test_lesson_models.py` keeps the two the same. Layer names follow the
sources (conv1, pool1, unpool1, deconv1 for CNTK's single-layer example;
conv_A ... deconv_A for its two-layer stack), so a student finds the encoder the
way the original did: by name.
"""

import keras
import numpy as np
from keras import layers

from cae_keras import checks
from cae_keras.layers import (
    CropLike,
    MaxPoolingWithPositions2D,
    MaxUnpooling2D,
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


def latent_autoencoder(latent_dim=2):
    """The 2-D latent convolutional autoencoder of lesson 06.

    Encoder: Conv2D(32, 3, strides 2, same, ReLU) -> Conv2D(64, 3, strides 2,
    same, ReLU) -> Conv2D(latent_dim, 7, valid), a 1x1 x `latent_dim` code.
    Decoder: Conv2DTranspose(64, 7, valid, ReLU) -> Conv2DTranspose(32, 3,
    strides 2, same, ReLU) -> Conv2DTranspose(1, 7, strides 2, same).

    Returns:
        A `keras.Model` from 28x28x1 images to 28x28x1 reconstructions made
        of two models, `get_layer("encoder")` (images to `(1, 1, latent_dim)`
        codes) and `get_layer("decoder")` (codes back to images).

    Example:

    >>> autoencoder = latent_autoencoder()
    >>> autoencoder.get_layer("encoder").output.shape
    (None, 1, 1, 2)
    """
    latent_dim = checks.positive_int("latent_dim", latent_dim)
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv1")(image)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    code = layers.Conv2D(latent_dim, 7, padding="valid", name="code")(x)
    encoder = keras.Model(image, code, name="encoder")

    code_in = keras.Input((1, 1, latent_dim), name="code")
    y = layers.Conv2DTranspose(64, 7, padding="valid", activation="relu", name="deconv1")(code_in)
    y = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="deconv2")(
        y
    )
    y = layers.Conv2DTranspose(1, 7, strides=2, padding="same", name="deconv3")(y)
    decoder = keras.Model(code_in, y, name="decoder")
    return keras.Model(image, decoder(encoder(image)), name="latent_autoencoder")


def small_encoder(latent_dim=64, name="encoder"):
    """Lesson 11's encoder: the image to a code of `latent_dim` numbers.

    conv1 (32, 3x3, stride 2, ReLU) 28 -> 14 -> conv2 (64, 3x3, stride 2,
    ReLU) 14 -> 7 -> flatten (3136) -> code (Dense, `latent_dim`, ReLU).

    Example:

    >>> small_encoder(64).output.shape
    (None, 64)
    """
    latent_dim = checks.positive_int("latent_dim", latent_dim)
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv1")(image)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = layers.Flatten(name="flatten")(x)
    code = layers.Dense(latent_dim, activation="relu", name="code")(x)
    return keras.Model(image, code, name=name)


def small_autoencoder(latent_dim=64):
    """Lesson 11's autoencoder: `small_encoder` and its mirror image.

    The decoder: Dense 7x7x64 (ReLU) -> reshape -> deconv2 (Conv2DTranspose
    32, 3x3, stride 2, ReLU) 7 -> 14 -> deconv1 (Conv2DTranspose 1, 3x3,
    stride 2, sigmoid) 14 -> 28, so it trains with binary cross-entropy.

    Returns:
        A `keras.Model` from images to reconstructions made of two models,
        `get_layer("encoder")` and `get_layer("decoder")`.

    Example:

    >>> autoencoder = small_autoencoder(16)
    >>> autoencoder.get_layer("encoder").output.shape, autoencoder.output.shape
    ((None, 16), (None, 28, 28, 1))
    """
    encoder = small_encoder(latent_dim)
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
    image = keras.Input(IMAGE_SHAPE, name="image")
    return keras.Model(image, decoder(encoder(image)), name="small_autoencoder")


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
