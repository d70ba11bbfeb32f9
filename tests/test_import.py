"""`import cae_keras` registers the layers and does nothing else global: no
tensor operation (devices stay configurable, unclaimed), no stream replaced,
descriptor 2 left alone while user code or a job runs, and still no start-up
log line. Each check runs in a fresh Python process, where the import is the
one that loads the backend."""

import os
import subprocess
import sys
import textwrap

import pytest

from cae_keras import cli


def fresh(code, backend="tensorflow"):
    """Run `code` in a new process with a clean logging environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "CAE_KERAS_NATIVE_LOGS")
    }
    env["KERAS_BACKEND"] = backend
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_tensorflow_devices_can_still_be_configured_after_import():
    result = fresh(
        """
        import cae_keras
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        config = tf.config.LogicalDeviceConfiguration()
        tf.config.set_logical_device_configuration(cpu, [config, config])
        print(len(tf.config.list_logical_devices("CPU")))
        """
    )
    assert result.stdout.strip() == "2"


def test_jax_backends_are_not_started_by_the_import():
    pytest.importorskip("jax")
    result = fresh(
        """
        import cae_keras
        from cae_keras.layers import MaxUnpooling2D
        from jax._src import xla_bridge
        print(xla_bridge.backends_are_initialized())
        """,
        backend="jax",
    )
    assert result.stdout.strip() == "False"


def test_stderr_is_the_same_stream_and_tensorflows_logger_still_prints():
    result = fresh(
        """
        import sys
        before = sys.stderr
        import cae_keras
        import tensorflow as tf
        assert sys.stderr is before
        tf.get_logger().warning("a warning from TensorFlow's logger")
        """
    )
    assert "a warning from TensorFlow's logger" in result.stderr
    assert "Logging error" not in result.stderr


def test_no_start_up_line_at_import_nor_at_the_first_compiled_step():
    result = fresh(
        """
        import cae_keras
        import keras
        import numpy as np
        from cae_keras.layers import MaxUnpooling2D
        x = keras.Input((4, 4, 1))
        pooled = keras.layers.MaxPooling2D(2)(x)
        out = keras.layers.Conv2D(1, 1)(MaxUnpooling2D(2)([pooled, x]))
        model = keras.Model(x, out)
        model.compile(loss="mse", jit_compile=True)
        model.fit(np.ones((2, 4, 4, 1)), np.ones((2, 4, 4, 1)), verbose=0)
        print("trained")
        """
    )
    assert result.stdout.strip() == "trained"
    assert result.stderr == ""


def test_a_job_writes_to_the_terminals_descriptor_2(monkeypatch, capfd):
    # A native library writes to descriptor 2 directly (an XLA or glibc abort
    # message): while a command runs, it must reach the terminal.
    def job(args):
        os.write(2, b"a native message\n")
        return 0

    monkeypatch.setattr(cli, "notebooks", job)
    assert cli.main(["notebooks"]) == 0
    assert "a native message" in capfd.readouterr().err
