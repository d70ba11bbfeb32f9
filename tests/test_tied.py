"""TiedConv2DTranspose: one kernel for two layers, trained from both sides."""

import keras
import numpy as np
import pytest

from cae_keras import kernels, numpy_ops, shapes
from cae_keras.layers import TiedConv2DTranspose
from tests.layer_testing import reload_in_fresh_process
from tests.lesson_runs import lesson_namespace


def tied_autoencoder():
    """Lesson 07's Lasagne model with both decoder kernels tied: the layer in
    the model it was written for."""
    return lesson_namespace("07_tied_weights.ipynb")["lasagne_autoencoder"]()


def small_pair(strides=1, padding="valid"):
    inputs = keras.Input((9, 9, 2))
    conv = keras.layers.Conv2D(3, 3, strides=strides, padding=padding, name="conv")
    code = conv(inputs)
    deconv = TiedConv2DTranspose(conv, strides=strides, padding=padding, name="deconv")
    return keras.Model(inputs, deconv(code)), conv, deconv


def test_both_layers_hold_one_variable():
    model, conv, deconv = small_pair()
    assert deconv.kernel is conv.kernel
    ids = [id(v) for v in model.trainable_variables]
    assert len(ids) == len(set(ids)) == 3  # conv kernel, conv bias, deconv bias
    # The decoder lists the shared kernel (so any model holding it trains it)
    # beside its own bias; the model above lists the kernel once.
    assert [v.path for v in deconv.trainable_variables] == ["conv/kernel", "deconv/bias"]


@pytest.mark.parametrize("strides,padding", [(1, "valid"), (2, "valid"), (2, "same")])
def test_output_equals_conv2d_transpose_with_the_same_kernel(strides, padding):
    model, conv, deconv = small_pair(strides, padding)
    deconv.bias.assign(np.array([0.5, -1.0], "float32"))
    twin = keras.layers.Conv2DTranspose(2, 3, strides=strides, padding=padding)
    code = keras.Input(conv.output.shape[1:])
    twin(code)
    twin.set_weights([keras.ops.convert_to_numpy(conv.kernel), np.array([0.5, -1.0], "float32")])
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 2)).astype("float32")
    c = keras.ops.convert_to_numpy(conv(x))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(deconv(c)),
        keras.ops.convert_to_numpy(twin(c)),
        rtol=1e-5,
        atol=1e-5,
    )
    code_len = shapes.conv_output_length(9, 3, strides, padding)
    out_len = shapes.conv_transpose_output_length(code_len, 3, strides, padding)
    assert model.output.shape[1:] == (out_len, out_len, 2)


def test_values_match_numpy_scatter_definition():
    inputs = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(1, 3, use_bias=False)
    deconv = TiedConv2DTranspose(conv, use_bias=False)
    deconv(conv(inputs))
    kernel = keras.ops.convert_to_numpy(conv.kernel)[:, :, 0, 0]
    code = np.random.default_rng(1).normal(size=(1, 4, 4, 1)).astype("float32")
    got = keras.ops.convert_to_numpy(deconv(code))[0, :, :, 0]
    np.testing.assert_allclose(
        got, numpy_ops.conv2d_transpose(code[0, :, :, 0], kernel), rtol=1e-5, atol=1e-6
    )


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="Keras' stateless_call does not accept autograd tensors on PyTorch",
)
def test_shared_kernel_gets_gradient_from_both_sides():
    model, conv, deconv = small_pair()
    x = np.random.default_rng(2).normal(size=(4, 9, 9, 2)).astype("float32")
    kernel = keras.ops.convert_to_numpy(conv.kernel)
    bias_c = keras.ops.convert_to_numpy(conv.bias)
    bias_d = keras.ops.convert_to_numpy(deconv.bias)

    def loss_of(trainable):
        # The model run with these variable values (Keras' stateless call).
        non_trainable = [v.value for v in model.non_trainable_variables]
        out, _ = model.stateless_call(trainable, non_trainable, x)
        return keras.ops.mean((out - x) ** 2)

    order = [v.path for v in model.trainable_variables]
    values = {"conv/kernel": kernel, "conv/bias": bias_c, "deconv/bias": bias_d}
    grads = kernels.vjp(lambda *t: loss_of(list(t)), [values[p] for p in order], np.float32(1))
    tied_grad = grads[order.index("conv/kernel")]

    # The untied twin's two kernel gradients add up to the tied one (chain
    # rule through a shared variable).
    def twin_loss(k_enc, k_dec):
        code = keras.ops.conv(x, k_enc) + bias_c
        out = keras.ops.conv_transpose(code, k_dec, padding="valid") + bias_d
        return keras.ops.mean((out - x) ** 2)

    g_enc, g_dec = kernels.vjp(twin_loss, [kernel, kernel], np.float32(1))
    np.testing.assert_allclose(tied_grad, g_enc + g_dec, rtol=1e-4, atol=1e-6)
    assert np.abs(g_enc).sum() > 0 and np.abs(g_dec).sum() > 0


@pytest.mark.parametrize(
    "strides,padding,dilation,rows",
    [
        (1, "valid", 1, 9),
        (2, "valid", 1, 9),
        (2, "same", 1, 10),
        (1, "valid", 2, 11),
        (1, "same", 2, 9),
        (1, "valid", (2, 1), 13),
    ],
)
def test_output_is_the_gradient_of_the_source_conv(strides, padding, dilation, rows):
    # The adjoint: TiedConv2DTranspose(conv)(g) is the vjp of conv at g.
    rng = np.random.default_rng(6)
    conv = keras.layers.Conv2D(
        3, 3, strides=strides, padding=padding, dilation_rate=dilation, use_bias=False
    )
    x = rng.normal(size=(2, rows, rows + 1, 2)).astype("float32")
    code = keras.ops.convert_to_numpy(conv(x))
    upstream = rng.normal(size=code.shape).astype("float32")
    (expected,) = kernels.vjp(lambda x_: conv(x_), [x], upstream)
    # A strided conv maps several input sizes to one output size: say which
    # with output_padding, counted from the smallest.
    smallest = TiedConv2DTranspose(conv, output_padding=0).compute_output_shape(upstream.shape)
    extra = tuple(want - got for want, got in zip(x.shape[1:3], smallest[1:3]))
    deconv = TiedConv2DTranspose(conv, use_bias=False, output_padding=extra)
    got = keras.ops.convert_to_numpy(deconv(upstream))
    assert got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_grouped_source_is_refused():
    conv = keras.layers.Conv2D(4, 3, groups=2, name="grouped")
    with pytest.raises(ValueError, match="groups=2.*only groups=1"):
        TiedConv2DTranspose(conv)


def test_a_tie_across_models_trains_the_kernel_from_both():
    inputs = keras.Input((9, 9, 2))
    conv = keras.layers.Conv2D(3, 3, name="conv")
    encoder = keras.Model(inputs, conv(inputs))
    code = keras.Input((7, 7, 3))
    decoder = keras.Model(code, TiedConv2DTranspose(conv, name="deconv")(code))
    assert any(v is conv.kernel for v in decoder.trainable_variables)
    rng = np.random.default_rng(7)
    for model, x, y in [
        (decoder, rng.normal(size=(4, 7, 7, 3)), rng.normal(size=(4, 9, 9, 2))),
        (encoder, rng.normal(size=(4, 9, 9, 2)), rng.normal(size=(4, 7, 7, 3))),
    ]:
        before = keras.ops.convert_to_numpy(conv.kernel).copy()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(x.astype("float32"), y.astype("float32"), epochs=1, verbose=0)
        assert not np.allclose(before, keras.ops.convert_to_numpy(conv.kernel)), model.name


def test_training_updates_the_shared_kernel():
    model, conv, deconv = small_pair()
    before = keras.ops.convert_to_numpy(conv.kernel).copy()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(3).normal(size=(8, 9, 9, 2)).astype("float32")
    model.fit(x, x, epochs=1, verbose=0)
    after = keras.ops.convert_to_numpy(deconv.kernel)
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(after, keras.ops.convert_to_numpy(conv.kernel))


def test_saved_model_reloads_with_the_tie_intact(tmp_path):
    model = tied_autoencoder()
    x = np.random.default_rng(4).random((3, 28, 28, 1)).astype("float32")
    model.save(tmp_path / "tied.keras")
    reloaded = keras.saving.load_model(tmp_path / "tied.keras")
    for conv_name, deconv_name in (("conv1", "deconv1"), ("conv2", "deconv2")):
        assert reloaded.get_layer(deconv_name).kernel is reloaded.get_layer(conv_name).kernel
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert reloaded.count_params() == model.count_params()
    # Training the reloaded model still moves one kernel for both layers.
    reloaded.compile(optimizer="adam", loss="mse")
    reloaded.fit(x, x, epochs=1, verbose=0)
    assert reloaded.get_layer("deconv1").kernel is reloaded.get_layer("conv1").kernel


def test_config_round_trip():
    conv = keras.layers.Conv2D(4, 5, name="c")
    layer = TiedConv2DTranspose(conv, strides=2, padding="same", activation="tanh", name="t")
    config = layer.get_config()
    assert config["strides"] == (2, 2) and config["padding"] == "same"
    assert config["activation"] == "tanh" and config["use_bias"] is True
    clone = TiedConv2DTranspose.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.source, keras.layers.Conv2D) and clone.source.name == "c"


def test_clear_errors():
    with pytest.raises(ValueError, match="`source` must be a keras.layers.Conv2D"):
        TiedConv2DTranspose(keras.layers.Dense(3))
    unbuilt = keras.layers.Conv2D(3, 3, name="unbuilt")
    with pytest.raises(ValueError, match="must be built"):
        TiedConv2DTranspose(unbuilt)(keras.Input((5, 5, 3)))
    model, conv, _ = small_pair()
    with pytest.raises(ValueError, match="takes 3 channels"):
        TiedConv2DTranspose(conv)(keras.Input((5, 5, 2)))
    with pytest.raises(ValueError, match="`padding`"):
        TiedConv2DTranspose(conv, padding="full")


def test_tie_survives_a_fresh_process(tmp_path):
    model = tied_autoencoder()
    x = np.random.default_rng(5).random((2, 28, 28, 1)).astype("float32")
    check = (
        "model.get_layer('deconv1').kernel is model.get_layer('conv1').kernel, "
        "model.get_layer('deconv2').kernel is model.get_layer('conv2').kernel"
    )
    assert reload_in_fresh_process(model, x, tmp_path, check).strip() == "True True"


def test_count_params_agrees_with_weights_and_the_model_counts_the_kernel_once():
    model, conv, deconv = small_pair()
    assert deconv.count_params() == sum(int(np.prod(w.shape)) for w in deconv.weights)
    assert deconv.count_params() == 3 * 3 * 2 * 3 + 2  # the shared kernel and its own bias
    assert model.count_params() == 3 * 3 * 2 * 3 + 3 + 2


@pytest.mark.parametrize("when", ["constructor", "after building"])
def test_freezing_the_tied_layer_freezes_its_bias_not_the_shared_kernel(when):
    inputs = keras.Input((9, 9, 2))
    conv = keras.layers.Conv2D(3, 3, name="conv")
    code = conv(inputs)
    kwargs = {"trainable": False} if when == "constructor" else {}
    deconv = TiedConv2DTranspose(conv, name="deconv", **kwargs)
    model = keras.Model(inputs, deconv(code))
    if when == "after building":
        deconv.trainable = False
    assert conv.kernel.trainable and not deconv.bias.trainable
    assert [v.path for v in model.trainable_variables] == ["conv/kernel", "conv/bias"]
    # Training moves the kernel, not the frozen bias.
    kernel, bias = (keras.ops.convert_to_numpy(v).copy() for v in (conv.kernel, deconv.bias))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(8).normal(size=(4, 9, 9, 2)).astype("float32")
    model.fit(x, x, epochs=1, verbose=0)
    assert not np.allclose(kernel, keras.ops.convert_to_numpy(conv.kernel))
    np.testing.assert_array_equal(bias, keras.ops.convert_to_numpy(deconv.bias))
    # Unfreezing gives the bias back; the kernel's state is still the source's.
    deconv.trainable = True
    conv.trainable = False
    assert deconv.bias.trainable and not conv.kernel.trainable


@pytest.mark.parametrize(
    "copy",
    [
        keras.models.clone_model,
        lambda model: keras.Model.from_config(model.get_config()),
    ],
    ids=["clone_model", "from_config"],
)
def test_copies_from_a_config_refuse_instead_of_untying(copy):
    model = tied_autoencoder()
    with pytest.raises(ValueError, match="the tie cannot be restored from a config"):
        copy(model)
