"""A small layer-test helper in the style of Keras' own layer tests.

`keras.src.testing` is private, so this is ours: one call checks a layer's
config round trip, symbolic and eager calls, one compiled training step and a
`.keras` save/load in a fresh model.
"""

import subprocess
import sys
import textwrap

import keras
import numpy as np


def conv_params(k, c_in, c_out, bias=True):
    """Weights of a k x k convolution (or its transpose), counted by hand."""
    return k * k * c_in * c_out + (c_out if bias else 0)


def _inputs(shapes, rng):
    return [rng.normal(size=s).astype("float32") for s in shapes]


def run_layer_test(
    layer_cls, init_kwargs, input_shapes, expected_output_shape, tmp_path, input_fn=None
):
    """Check `layer_cls(**init_kwargs)` called on inputs of `input_shapes`.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_shapes: list of input shapes (with batch), one per input; a
            single-input layer is called on a tensor, a multi-input on a list.
        expected_output_shape: the output shape for those inputs.
        tmp_path: a folder for the saved model.
        input_fn: optional function building the (symbolic or eager) layer
            inputs from the model inputs, for layers whose inputs are related.
    """
    rng = np.random.default_rng(0)
    single = len(input_shapes) == 1

    # Config round trip: same config, same class.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config

    # Symbolic call with an unknown batch size.
    sym = [keras.Input(s[1:]) for s in input_shapes]
    layer_in = input_fn(sym) if input_fn else (sym[0] if single else sym)
    out = layer_cls(**init_kwargs)(layer_in)
    assert tuple(out.shape) == (None, *expected_output_shape[1:])

    # Eager call.
    values = _inputs(input_shapes, rng)
    eager_in = input_fn(values) if input_fn else (values[0] if single else values)
    eager = keras.ops.convert_to_numpy(layer_cls(**init_kwargs)(eager_in))
    assert eager.shape == tuple(expected_output_shape)

    # One compiled training step through the layer.
    model = keras.Model(sym, keras.layers.Dense(1)(out))
    model.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit(values, rng.normal(size=(*expected_output_shape[:-1], 1)), epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))

    # Save and load as .keras without custom_objects: identical outputs.
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        reloaded.predict(values, verbose=0),
        model.predict(values, verbose=0),
        rtol=0,
        atol=0,
    )
    return model


def reload_in_fresh_process(model, x, tmp_path, check="''"):
    """Save `model`, load it in a new Python process that only imports
    `cae_keras` (no `custom_objects`), and check identical predictions on `x`.

    Args:
        check: a Python expression about the reloaded `model`, printed by
            the child process.

    Returns:
        What the child printed.
    """
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    model.save(tmp_path / "m.keras")
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import cae_keras  # registers the layers: no custom_objects needed
        model = keras.saving.load_model({str(tmp_path / "m.keras")!r})
        x = np.load({str(tmp_path / "x.npy")!r})
        y = np.load({str(tmp_path / "y.npy")!r})
        np.testing.assert_array_equal(model.predict(x, verbose=0), y)
        print({check})
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
