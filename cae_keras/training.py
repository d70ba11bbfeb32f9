"""Seeded training with CNTK's criterion or any Keras loss."""

import keras

from cae_keras.metrics import PerImageRMSE, per_image_rmse


def seed_everything(seed):
    """Seed Python, NumPy and the backend, so a run can be repeated."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
    keras.utils.set_random_seed(seed)


def train_autoencoder(
    model,
    x_train,
    x_val=None,
    *,
    epochs=5,
    batch_size=64,
    learning_rate=3e-3,
    decay=True,
    loss="rmse",
    seed=0,
    verbose="auto",
    callbacks=None,
):
    """Compile `model` with Adam and train it to reconstruct `x_train`.

    Args:
        model: a Keras model from images to images of the same shape.
        x_train: training images, `(n, 28, 28, 1)`.
        x_val: optional validation images, evaluated after every epoch.
        epochs: passes over `x_train`. Default 5.
        batch_size: images per step. Default 64.
        learning_rate: Adam's initial step size. Default 3e-3.
        decay: whether the step size follows a cosine from `learning_rate`
            down to zero over the run; small steps at the end settle the
            weights. Default `True`.
        loss: `"rmse"`, CNTK's criterion (mean over images of each image's
            RMSE), or any Keras loss such as `"mse"`.
        seed: shuffling seed. Default 0. Seed before building the model too
            (`seed_everything`) to repeat its initial weights.
        verbose: Keras' progress output: `"auto"`, 0, 1 or 2.
        callbacks: extra Keras callbacks.

    Returns:
        The `keras.callbacks.History` of the run; the model is trained in place.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer, got {epochs!r}.")
    if len(x_train) == 0:
        raise ValueError("`x_train` holds no images.")
    seed_everything(seed)
    criterion = per_image_rmse if loss == "rmse" else loss
    if decay:
        steps = epochs * -(-len(x_train) // batch_size)
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=criterion,
        metrics=[PerImageRMSE()] if loss != "rmse" else None,
    )
    return model.fit(
        x_train,
        x_train,
        validation_data=None if x_val is None else (x_val, x_val),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose,
        callbacks=callbacks,
    )
