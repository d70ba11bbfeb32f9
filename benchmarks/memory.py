"""Benchmark: peak memory of each segmentation decoder at inference, on large scenes.

    python benchmarks/memory.py [--backends tensorflow jax] [--cases 1x1024x1024 8x512x512]

Each model (`models.segmentation_model`: SegNet with stored positions, SegNet
unpooling from its pooling inputs, U-Net, the UpSampling2D twin; random
weights) runs in a fresh process, one case at a time:

1. build the model and make the input; on TensorFlow trace the model for
   any size on a small scene, on JAX compile it for the case's shape;
2. reset the kernel's peak-RSS counter (`/proc/self/clear_refs`, Linux) and
   read the resident memory;
3. run it on the case's scenes and read the peak (`VmHWM`).

The figure is the peak minus the memory before: what this first inference at
that size added, in MiB: the feature maps alive together, and on TensorFlow
also what the XLA-compiled unpooling kernels take to compile for the new shape
(a few MiB; the allocators keep memory once used, so a second run would show
almost nothing). On JAX the compiled program's own
figure is printed too: XLA's `temp_size_in_bytes`, the scratch memory its buffer
assignment planned (outputs and arguments excluded).

TensorFlow runs the model as a SavedModel serves it: `model(x, training=False)`
in a `tf.function` traced for any size. JAX runs `jax.jit` of the same call.
"""

import argparse
import json
import os
import subprocess
import sys

KINDS = ("segnet", "segnet_pool_input", "unet", "upsample")


def _rss_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(kind, batch, rows, cols):
    """In a process whose Keras backend is set: the case's peak memory, in MiB."""
    import keras
    import numpy as np

    from cae_keras import models

    keras.utils.set_random_seed(0)
    model = models.segmentation_model(kind)
    x = np.random.default_rng(0).random((batch, rows, cols, 1)).astype("float32")
    extra = {}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)])
        def run(t):
            return model(t, training=False)

        x = tf.constant(x)
        np.asarray(run(x[:1, :64, :64]))  # traced once, for every size
    else:
        import jax

        run = jax.jit(lambda t: model(t, training=False)).lower(x).compile()
        extra["xla_temp_mib"] = run.memory_analysis().temp_size_in_bytes / 2**20
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak RSS starts again from the current RSS
    before = _rss_kib("VmRSS")
    np.asarray(run(x))
    peak = _rss_kib("VmHWM")
    return {"peak_mib": (peak - before) / 1024, **extra}


def _run(backend, kind, case):
    # A fixed mmap threshold: glibc then serves every large buffer with its own
    # mapping and returns it to the system when freed, so the resident memory
    # follows what is alive (by default it raises the threshold after the first
    # large free and keeps later buffers in its heap, where the first run's
    # memory would hide the second's).
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        TF_CPP_MIN_LOG_LEVEL="3",
        MALLOC_MMAP_THRESHOLD_="65536",
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks'); import memory; "
        f"print('ROW=' + json.dumps(memory.measure({kind!r}, *{case!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True
    )
    for line in result.stdout.splitlines():
        if line.startswith("ROW="):
            return json.loads(line[4:])
    raise RuntimeError(f"{backend} {kind} {case} failed:\n{result.stderr[-3000:]}")


def _case(text):
    try:
        batch, rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BATCHxROWSxCOLS, got {text!r}") from None
    return batch, rows, cols


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--cases", nargs="+", type=_case, default=[(1, 1024, 1024), (8, 512, 512)])
    args = parser.parse_args(argv)
    from importlib.metadata import version

    print(f"Keras {version('keras')}; MiB added by one inference, each in a fresh process")
    for backend in args.backends:
        for case in args.cases:
            print(f"\n{backend}, scenes {case[0]} x {case[1]} x {case[2]} x 1")
            rows = {kind: _run(backend, kind, case) for kind in KINDS}
            jax_column = "xla_temp_mib" in rows[KINDS[0]]
            xla_head = f"{'XLA temp MiB':>14}" if jax_column else ""
            print(f"{'model':<20}{'peak MiB':>10}" + xla_head)
            for kind, row in rows.items():
                line = f"{kind:<20}{row['peak_mib']:>10.0f}"
                if jax_column:
                    line += f"{row['xla_temp_mib']:>14.0f}"
                print(line)


if __name__ == "__main__":
    main()
