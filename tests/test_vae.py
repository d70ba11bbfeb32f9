"""`VariationalSampling`, its KL term and the VAE model: values against NumPy,
the sampling statistics, training through `add_loss`, saving and reloading.
Run again under JAX and PyTorch by test_backends.py."""

import keras
import numpy as np
import pytest

from cae_keras.layers import VariationalSampling, kl_to_standard_normal
from cae_keras.metrics import summed_binary_crossentropy
from tests.layer_testing import reload_in_fresh_process, run_layer_test
from tests.lesson_runs import lesson_namespace


def lesson_vae(**parameters):
    """Lesson 09's VAE, built by the lesson's own cells: `(encoder, decoder, vae)`."""
    ns = lesson_namespace("09_variational_autoencoder.ipynb", **parameters)
    return ns["vae_encoder"], ns["vae_decoder"], ns["vae"]


def numpy_kl(mean, log_var):
    # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2) / 2 - 1/2 per number, summed.
    s2 = np.exp(log_var)
    per_number = -0.5 * np.log(s2) + (s2 + mean**2) / 2 - 0.5
    return per_number.reshape(len(mean), -1).sum(axis=1)


def test_kl_matches_the_closed_form_and_is_zero_at_the_prior():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(4, 1, 1, 3)).astype("float32")
    log_var = rng.normal(size=(4, 1, 1, 3)).astype("float32")
    ours = keras.ops.convert_to_numpy(kl_to_standard_normal(mean, log_var))
    np.testing.assert_allclose(ours, numpy_kl(mean, log_var), rtol=1e-5)
    zero = np.zeros((2, 1, 1, 3), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kl_to_standard_normal(zero, zero)), 0)
    # Hand-worked: mean 1, variance 1 on one number: KL = 1/2.
    one = kl_to_standard_normal(np.ones((1, 1), "float32"), np.zeros((1, 1), "float32"))
    assert float(keras.ops.convert_to_numpy(one)[0]) == pytest.approx(0.5)


def test_samples_have_the_mean_and_spread_asked_for():
    n = 20000
    mean = np.full((n, 2), [1.0, -2.0], "float32")
    log_var = np.full((n, 2), np.log([0.25, 4.0]), "float32")
    z = keras.ops.convert_to_numpy(VariationalSampling(seed=1)([mean, log_var], training=True))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), [0.5, 2.0], rtol=0.03)
    # Two calls draw different noise; outside training the mean comes back as is.
    layer = VariationalSampling(seed=1)
    a = keras.ops.convert_to_numpy(layer([mean[:5], log_var[:5]], training=True))
    b = keras.ops.convert_to_numpy(layer([mean[:5], log_var[:5]], training=True))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer([mean[:5], log_var[:5]], training=False)), mean[:5]
    )


def test_the_layer_adds_beta_times_the_mean_kl_as_a_loss():
    rng = np.random.default_rng(2)
    mean = rng.normal(size=(6, 2)).astype("float32")
    log_var = rng.normal(size=(6, 2)).astype("float32")
    layer = VariationalSampling(beta=3.0)
    layer([mean, log_var], training=False)
    (loss,) = layer.losses
    expected = 3.0 * numpy_kl(mean, log_var).mean()
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(expected, rel=1e-5)


def test_layer_contract(tmp_path):
    run_layer_test(
        VariationalSampling,
        {"beta": 0.5, "seed": 3},
        [(4, 1, 1, 2), (4, 1, 1, 2)],
        (4, 1, 1, 2),
        tmp_path,
    )


@pytest.mark.parametrize("beta", [-1.0, "1", None, True])
def test_bad_beta(beta):
    with pytest.raises(ValueError, match="`beta`"):
        VariationalSampling(beta=beta)


def test_mismatched_inputs():
    with pytest.raises(ValueError, match="same shape"):
        VariationalSampling()([keras.Input((1, 1, 2)), keras.Input((1, 1, 3))])


def test_summed_binary_crossentropy_sums_pixels():
    y = np.array([[[1.0], [0.0]]], "float32")  # one image of two pixels
    p = np.array([[[0.8], [0.4]]], "float32")
    expected = -(np.log(0.8) + np.log(0.6))
    ours = keras.ops.convert_to_numpy(summed_binary_crossentropy(y, p))
    np.testing.assert_allclose(ours, [expected], rtol=1e-4)


def test_vae_trains_on_every_backend_and_its_loss_includes_the_kl():
    rng = np.random.default_rng(0)
    x = (rng.random((64, 28, 28, 1)) > 0.8).astype("float32")
    keras.utils.set_random_seed(0)
    encoder, decoder, vae = lesson_vae(beta=1.0, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3), loss=summed_binary_crossentropy)
    history = vae.fit(x, x, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # evaluate = reconstruction (at the mean) + KL, each recomputed here by hand.
    mean, log_var = (keras.ops.convert_to_numpy(t) for t in encoder(x, training=False))
    recon = keras.ops.convert_to_numpy(decoder(mean, training=False))
    p = np.clip(recon.astype("float64"), 1e-7, 1 - 1e-7)
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(64, -1).sum(axis=1).mean()
    expected = bce + numpy_kl(mean, log_var).mean()
    assert vae.evaluate(x, x, batch_size=64, verbose=0) == pytest.approx(expected, rel=1e-3)


def test_vae_saves_and_reloads(tmp_path):
    _, _, vae = lesson_vae(beta=2.0)
    x = np.random.default_rng(1).random((4, 28, 28, 1)).astype("float32")
    out = reload_in_fresh_process(vae, x, tmp_path, check="model.get_layer('sampling').beta")
    assert out.strip() == "2.0"


def test_a_shift_of_every_code_is_absorbed_by_the_decoder_biases():
    # The reason for the Dense first layer: shifting every code by c and the
    # Dense bias by -W c leaves every picture unchanged.
    _, decoder, _ = lesson_vae()
    dense = decoder.get_layer("deconv1")
    codes = np.random.default_rng(0).normal(size=(5, 1, 1, 2)).astype("float32")
    before = keras.ops.convert_to_numpy(decoder(codes))
    shift = np.array([1.0, -0.5], "float32")
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in dense.weights)
    dense.bias.assign(bias - shift @ kernel)
    after = keras.ops.convert_to_numpy(decoder(codes + shift.reshape(1, 1, 1, 2)))
    np.testing.assert_allclose(after, before, atol=1e-5)
