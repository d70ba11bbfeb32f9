"""The sampling step of a variational autoencoder, with its KL term."""

import keras
from keras import ops

from cae_keras import checks


def kl_to_standard_normal(mean, log_var):
    """KL divergence from `N(mean, exp(log_var))` to the standard normal, per image.

    For a diagonal Gaussian code it is, summed over the code's numbers,
    `-1/2 sum(1 + log_var - mean^2 - exp(log_var))`: zero exactly when every
    mean is 0 and every variance 1.

    Args:
        mean: `(batch, ...)` means of the code.
        log_var: log-variances of the same shape.

    Returns:
        A `(batch,)` tensor, in nats.

    Raises:
        ValueError: `mean` and `log_var` differ in shape (never broadcast), or
            have no batch axis.
    """
    mean = ops.convert_to_tensor(mean)
    log_var = ops.cast(ops.convert_to_tensor(log_var), mean.dtype)
    checks.same_shape("mean", mean.shape, "log_var", log_var.shape)
    if len(mean.shape) < 1:
        raise ValueError(f"`mean` must have a batch axis, got shape {tuple(mean.shape)}.")
    axes = tuple(range(1, len(mean.shape)))
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=axes)


@keras.saving.register_keras_serializable(package="cae_keras")
class VariationalSampling(keras.layers.Layer):
    """Draw a code with the reparameterisation trick, and add the KL term.

    `z = mean + exp(log_var / 2) * eps` with `eps ~ N(0, 1)` drawn afresh for
    every call: the randomness sits in `eps`, so gradients reach `mean` and
    `log_var` (Kingma and Welling's reparameterisation trick). The layer adds
    `beta * KL(N(mean, exp(log_var)) || N(0, 1))`, averaged over the batch, to
    the model's loss (`add_loss`), so a model built with it trains with a
    plain `compile(loss=reconstruction)` on every backend.

    Outside training (`predict`, `evaluate`) it returns `mean` unchanged, so
    reconstructions are repeatable; the KL term is still added, so
    `evaluate` reports the same objective as training, less the noise.

    Args:
        beta: weight of the KL term. Default 1.0, the VAE; larger values pull
            the codes harder towards the prior, 0 gives an autoencoder with
            noisy codes.
        seed: seed of the noise. Default `None`.
        **kwargs: base `Layer` arguments, such as `name`.

    Call arguments:
        inputs: `[mean, log_var]`, two tensors of the same shape.
        training: whether to sample (`True`) or return `mean`.

    Input shape:
        Two tensors `(batch, ...)` of the same shape.

    Output shape:
        The shape of `mean`.

    Example:

    >>> mean, log_var = keras.ops.zeros((2, 1, 1, 2)), keras.ops.zeros((2, 1, 1, 2))
    >>> layer = VariationalSampling(seed=0)
    >>> tuple(layer([mean, log_var], training=True).shape)
    (2, 1, 1, 2)

    Reference:
        D. P. Kingma, M. Welling, *Auto-Encoding Variational Bayes*, 2013,
        arXiv:1312.6114.
    """

    def __init__(self, beta=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.beta = checks.non_negative_number("beta", beta)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @staticmethod
    def _check(input_shape):
        two = isinstance(input_shape, (list, tuple)) and len(input_shape) == 2
        if not two or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(
                "`VariationalSampling` takes two inputs, [mean, log_var], got "
                f"shape {input_shape!r}."
            )
        checks.same_shape("mean", input_shape[0], "log_var", input_shape[1])

    def build(self, input_shape):
        self._check(input_shape)

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "`VariationalSampling` takes two inputs, [mean, log_var], got "
                f"{type(inputs).__name__} of shape {getattr(inputs, 'shape', None)}."
            )
        mean, log_var = inputs
        # Eager calls skip the symbolic pass: the shapes are checked here too.
        self._check([tuple(mean.shape), tuple(log_var.shape)])
        self.add_loss(self.beta * ops.mean(kl_to_standard_normal(mean, log_var)))
        if not training:
            return mean
        eps = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "seed": self.seed}
