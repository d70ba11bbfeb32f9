"""Benchmark: MaxUnpooling2D beside UpSampling2D and each backend's native route.

Prints milliseconds per forward + backward step (the loss and its gradient with
respect to the pooled tensor), the median of interleaved repeats, for two
shapes, in each backend's default training mode:

- TensorFlow, plain graph: what Keras' `fit` runs on a CPU-only machine
  (`jit_compile="auto"` means no XLA there). Baseline: argmax + scatter
  (`tf.nn.max_pool_with_argmax`, then `tf.scatter_nd`), the TensorFlow
  Addons way.
- TensorFlow with `jit_compile=True` (Keras' `fit` on a GPU).
- JAX under `jax.jit` (Keras' `fit` on JAX).
- PyTorch eager (Keras' default there). Baseline: PyTorch's own
  `max_pool2d(..., return_indices=True)` + `max_unpool2d` on the same tensor.

Each backend runs in its own process, since Keras fixes the backend at
import; a backend that is not installed is skipped with a line saying so.

    python benchmarks/unpooling.py [--repeats 30] [--steps 20] [--backends tensorflow jax torch]
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

CASES = [
    {"batch": 64, "size": 28, "channels": 32, "pool": 2},
    {"batch": 64, "size": 28, "channels": 1, "pool": 4},
]

# Unpooling from stored positions (MaxPoolingWithPositions2D computed them
# once, outside the timed step, as in a SegNet): it reads one byte per pooled
# value where the pool-input form reads the whole float32 pooling input.
FROM_POSITIONS = "from positions"

# Targets from the project's issues: ours / reference at most this, for the
# pool-input form and for unpooling from positions.
TARGETS = {
    "tensorflow plain graph": ("UpSampling2D", 2.5, 1.25),
    "tensorflow XLA": ("UpSampling2D", 1.5, 1.25),
    "jax jit": ("UpSampling2D", 1.5, 1.25),
    "torch eager": ("max_pool2d+max_unpool2d", 1.5, 1.5),
}


def _block_ms(step, steps, sync):
    """Milliseconds per step over one block of `steps` steps."""
    start = time.perf_counter()
    for _ in range(steps):
        result = step()
    sync(result)
    return (time.perf_counter() - start) / steps * 1000.0


def _interleaved(steps_by_name, steps, repeats, sync):
    for step in steps_by_name.values():  # trace, compile and warm up
        for _ in range(3):
            sync(step())
    times = {name: [] for name in steps_by_name}
    for _ in range(repeats):  # interleaved, so drift hits all alike
        for name, step in steps_by_name.items():
            times[name].append(_block_ms(step, steps, sync))
    return {name: statistics.median(t) for name, t in times.items()}


def _tensorflow_modes(case, rng):
    import keras
    import tensorflow as tf

    from cae_keras.layers import MaxPoolingWithPositions2D, MaxUnpooling2D

    b, n, c, k = case["batch"], case["size"], case["channels"], case["pool"]
    x = tf.constant(rng.normal(size=(b, n, n, c)).astype("float32"))
    pooled, positions = MaxPoolingWithPositions2D(k)(x)
    upstream = tf.constant(rng.normal(size=x.shape).astype("float32"))
    unpool, upsample = MaxUnpooling2D(k), keras.layers.UpSampling2D(k)

    def scatter(p, x_):
        _, argmax = tf.nn.max_pool_with_argmax(x_, k, k, "VALID", include_batch_in_index=True)
        flat = tf.scatter_nd(
            tf.reshape(argmax, (-1, 1)), tf.reshape(p, (-1,)), [tf.size(x_, tf.int64)]
        )
        return tf.reshape(flat, tf.shape(x_))

    def step_for(fn, jit):
        @tf.function(jit_compile=jit)
        def step(p, x_, up):
            with tf.GradientTape() as tape:
                tape.watch(p)
                loss = tf.reduce_sum(fn(p, x_) * up)
            # Return the loss too, so the forward pass is not optimised away.
            return loss, tape.gradient(loss, p)

        # Concrete functions skip tf.function's per-call signature matching.
        concrete = step.get_concrete_function(pooled, x, upstream)
        return lambda: concrete(pooled, x, upstream)

    def sync(result):
        result[1].numpy()

    plain = {
        "MaxUnpooling2D": step_for(lambda p, x_: unpool([p, x_]), False),
        FROM_POSITIONS: step_for(lambda p, x_: unpool([p, positions], output_size=(n, n)), False),
        "UpSampling2D": step_for(lambda p, x_: upsample(p), False),
        # max_pool_with_argmax has no XLA kernel: plain graphs only.
        "argmax+scatter": step_for(scatter, False),
    }
    xla = {
        "MaxUnpooling2D": step_for(lambda p, x_: unpool([p, x_]), True),
        FROM_POSITIONS: step_for(lambda p, x_: unpool([p, positions], output_size=(n, n)), True),
        "UpSampling2D": step_for(lambda p, x_: upsample(p), True),
    }
    return {"tensorflow plain graph": (plain, sync), "tensorflow XLA": (xla, sync)}


def _jax_modes(case, rng):
    import jax
    import jax.numpy as jnp
    import keras

    from cae_keras.layers import MaxPoolingWithPositions2D, MaxUnpooling2D

    b, n, c, k = case["batch"], case["size"], case["channels"], case["pool"]
    x = jnp.asarray(rng.normal(size=(b, n, n, c)).astype("float32"))
    pooled, positions = MaxPoolingWithPositions2D(k)(x)
    upstream = jnp.asarray(rng.normal(size=x.shape).astype("float32"))
    unpool, upsample = MaxUnpooling2D(k), keras.layers.UpSampling2D(k)

    def step_for(fn):
        loss = lambda p, x_, up: jnp.sum(fn(p, x_) * up)  # noqa: E731
        step = jax.jit(jax.value_and_grad(loss))
        return lambda: step(pooled, x, upstream)

    steps = {
        "MaxUnpooling2D": step_for(lambda p, x_: unpool([p, x_])),
        FROM_POSITIONS: step_for(lambda p, x_: unpool([p, positions], output_size=(n, n))),
        "UpSampling2D": step_for(lambda p, x_: upsample(p)),
    }
    return {"jax jit": (steps, lambda result: result[1].block_until_ready())}


def _torch_modes(case, rng):
    import keras
    import torch
    import torch.nn.functional as F

    from cae_keras.layers import MaxPoolingWithPositions2D, MaxUnpooling2D

    b, n, c, k = case["batch"], case["size"], case["channels"], case["pool"]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.tensor(rng.normal(size=(b, n, n, c)).astype("float32"), device=device)
    upstream = torch.tensor(rng.normal(size=x.shape).astype("float32"), device=device)
    pooled = F.max_pool2d(x.permute(0, 3, 1, 2), k).permute(0, 2, 3, 1).contiguous()
    positions = MaxPoolingWithPositions2D(k)(x)[1]
    unpool, upsample = MaxUnpooling2D(k), keras.layers.UpSampling2D(k)

    def native(p, x_):
        # PyTorch's own pair on the same tensor (NCHW views of NHWC data).
        _, index = F.max_pool2d(x_.permute(0, 3, 1, 2), k, return_indices=True)
        out = F.max_unpool2d(p.permute(0, 3, 1, 2), index, k, output_size=x_.shape[1:3])
        return out.permute(0, 2, 3, 1)

    def step_for(fn):
        def step():
            p = pooled.detach().requires_grad_(True)
            loss = (fn(p, x) * upstream).sum()
            (grad,) = torch.autograd.grad(loss, p)
            return loss, grad

        return step

    def sync(result):
        if device == "cuda":
            torch.cuda.synchronize()

    steps = {
        "MaxUnpooling2D": step_for(lambda p, x_: unpool([p, x_])),
        FROM_POSITIONS: step_for(lambda p, x_: unpool([p, positions], output_size=(n, n))),
        "UpSampling2D": step_for(lambda p, x_: upsample(p)),
        "max_pool2d+max_unpool2d": step_for(native),
    }
    return {f"torch eager ({device})".replace(" (cpu)", ""): (steps, sync)}


MODES = {"tensorflow": _tensorflow_modes, "jax": _jax_modes, "torch": _torch_modes}


def measure(backend, repeats, steps, seed=0):
    """Run in a process whose Keras backend is `backend`; returns JSON rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for case in CASES:
        for mode, (steps_by_name, sync) in MODES[backend](case, rng).items():
            medians = _interleaved(steps_by_name, steps, repeats, sync)
            rows.append({"mode": mode, "case": case, "ms": medians})
    return rows


def _run_backend(backend, repeats, steps):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks'); import unpooling; "
        f"print('ROWS=' + json.dumps(unpooling.measure({backend!r}, {repeats}, {steps})))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True
    )
    for line in result.stdout.splitlines():
        if line.startswith("ROWS="):
            return json.loads(line[5:])
    raise RuntimeError(f"{backend} benchmark failed:\n{result.stderr[-3000:]}")


def report(rows):
    """Print one table per mode, with the ratio to that mode's reference."""
    for mode in dict.fromkeys(row["mode"] for row in rows):
        reference, limit, positions_limit = TARGETS[mode.split(" (")[0]]
        print(
            f"\n{mode} (targets: MaxUnpooling2D at most {limit}x {reference}, "
            f"from positions at most {positions_limit}x)"
        )
        names = list(next(r for r in rows if r["mode"] == mode)["ms"])
        print(f"{'shape (b, h, w, c), pool':<26}" + "".join(f"{name:>26}" for name in names))
        for row in (r for r in rows if r["mode"] == mode):
            case, ms = row["case"], row["ms"]
            b, n, c, k = (case[key] for key in ("batch", "size", "channels", "pool"))
            shape = f"({b}, {n}, {n}, {c}), {k}"
            cells = "".join(f"{ms[name]:>23.3f} ms" for name in names)
            verdicts = []
            for name, bound in (("MaxUnpooling2D", limit), (FROM_POSITIONS, positions_limit)):
                ratio = ms[name] / ms[reference]
                verdicts.append(f"{name} {ratio:.2f}x ({'meets' if ratio <= bound else 'MISSES'})")
            print(f"{shape:<26}{cells}   " + ", ".join(verdicts))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--backends", nargs="+", default=list(MODES), choices=list(MODES))
    args = parser.parse_args(argv)
    # The version from the package metadata: importing Keras here would load
    # TensorFlow in this parent process, and print its start-up log, for nothing.
    from importlib.metadata import version

    print(
        f"Keras {version('keras')}, {os.cpu_count()} CPU cores; milliseconds per forward + "
        f"backward step, median of {args.repeats} interleaved repeats of {args.steps} steps"
    )
    for backend in args.backends:
        module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
        if importlib.util.find_spec(module) is None:
            print(f"\n{backend}: not installed, skipped")
            continue
        report(_run_backend(backend, args.repeats, args.steps))


if __name__ == "__main__":
    main()
