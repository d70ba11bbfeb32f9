"""TiedConv2DTranspose: one kernel for two layers, trained from both sides."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cae_keras import numpy_ops, shapes
from cae_keras.layers import TiedConv2DTranspose
from cae_keras.models import tied_autoencoder
from tests.layer_testing import reload_in_fresh_process


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
    assert [v.path for v in deconv.trainable_variables] == ["deconv/bias"]


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


def test_shared_kernel_gets_gradient_from_both_sides():
    model, conv, deconv = small_pair()
    x = tf.constant(np.random.default_rng(2).normal(size=(4, 9, 9, 2)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - x) ** 2)
    tied_grad = tape.gradient(loss, conv.kernel)

    # The untied twin with identical weights: its two kernel gradients add up
    # to the tied one (chain rule through a shared variable).
    inputs = keras.Input((9, 9, 2))
    conv2 = keras.layers.Conv2D(3, 3)
    deconv2 = keras.layers.Conv2DTranspose(2, 3)
    twin = keras.Model(inputs, deconv2(conv2(inputs)))
    conv2.set_weights(conv.get_weights())
    deconv2.set_weights(
        [
            keras.ops.convert_to_numpy(conv.kernel),
            keras.ops.convert_to_numpy(deconv.bias),
        ]
    )
    with tf.GradientTape() as tape:
        loss2 = tf.reduce_mean((twin(x) - x) ** 2)
    g_enc, g_dec = tape.gradient(loss2, [conv2.kernel, deconv2.kernel])
    np.testing.assert_allclose(tied_grad.numpy(), (g_enc + g_dec).numpy(), rtol=1e-4, atol=1e-6)
    assert np.abs(g_enc.numpy()).sum() > 0 and np.abs(g_dec.numpy()).sum() > 0


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


def test_tied_saves_exactly_the_untied_twins_decoder_kernels():
    tied, untied = tied_autoencoder(tied=True), tied_autoencoder(tied=False)
    # Each untied decoder kernel (5*5*32*32 and 5*5*32*1) is saved by tying.
    assert untied.count_params() - tied.count_params() == 5 * 5 * 32 * 32 + 5 * 5 * 32 * 1


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
