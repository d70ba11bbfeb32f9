"""Benchmark: MaxUnpooling2D against argmax + scatter and against UpSampling2D.

Prints milliseconds per forward + backward step (gradient with respect to the
pooled tensor), the median of interleaved repeats, for two shapes:

    python benchmarks/unpooling.py [--repeats 30] [--steps 20]

The baseline is the TensorFlow Addons approach, written out here: record the
argmax during pooling with `tf.nn.max_pool_with_argmax`, then `tf.scatter_nd`
the pooled values to those flat indices. `UpSampling2D` does no routing at all
and is the floor.
"""

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from cae_keras.layers import MaxUnpooling2D

CASES = [
    {"batch": 64, "size": 28, "channels": 32, "pool": 2},
    {"batch": 64, "size": 28, "channels": 1, "pool": 4},
]


def scatter_unpool(pooled, pool_input, pool):
    """Argmax + scatter unpooling, the baseline (ties and overlaps not handled)."""
    _, argmax = tf.nn.max_pool_with_argmax(
        pool_input, pool, pool, "VALID", include_batch_in_index=True
    )
    size = tf.size(pool_input, out_type=tf.int64)
    flat = tf.scatter_nd(
        tf.reshape(argmax, (-1, 1)), tf.reshape(pooled, (-1,)), tf.reshape(size, (1,))
    )
    return tf.reshape(flat, tf.shape(pool_input))


def make_steps(pool, xla):
    """One compiled forward + backward step per implementation.

    With `xla`, each runs as Keras' `fit` would run a model holding it:
    XLA-compiled (Keras' default `jit_compile="auto"` on TensorFlow) where the
    ops allow it; `max_pool_with_argmax` has no XLA kernel, so the scatter
    baseline always runs as a plain graph.
    """
    unpool = MaxUnpooling2D(pool)
    upsample = keras.layers.UpSampling2D(pool)
    fns = {
        "MaxUnpooling2D": (lambda p, x: unpool([p, x]), xla),
        "argmax+scatter_nd": (lambda p, x: scatter_unpool(p, x, pool), False),
        "UpSampling2D": (lambda p, x: upsample(p), xla),
    }

    def step_for(fn, jit):
        @tf.function(jit_compile=jit)
        def step(pooled, pool_input, upstream):
            with tf.GradientTape() as tape:
                tape.watch(pooled)
                out = fn(pooled, pool_input)
                loss = tf.reduce_sum(out * upstream)
            return tape.gradient(loss, pooled)

        return step

    return {name: step_for(fn, jit) for name, (fn, jit) in fns.items()}


def time_steps(step, args, steps):
    start = time.perf_counter()
    for _ in range(steps):
        result = step(*args)
    result.numpy()  # wait for the last step
    return (time.perf_counter() - start) / steps * 1000.0


def run(repeats, steps, xla, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for case in CASES:
        b, n, c, k = case["batch"], case["size"], case["channels"], case["pool"]
        x = tf.constant(rng.normal(size=(b, n, n, c)).astype("float32"))
        pooled = tf.nn.max_pool2d(x, k, k, "VALID")
        upstream = tf.constant(rng.normal(size=x.shape).astype("float32"))
        # Concrete functions skip tf.function's per-call signature matching, so
        # the figures are the steps' own cost, not Python dispatch.
        steps_by_name = {
            name: step.get_concrete_function(pooled, x, upstream)
            for name, step in make_steps(k, xla).items()
        }
        times = {name: [] for name in steps_by_name}
        for step in steps_by_name.values():  # trace and warm up
            time_steps(step, (pooled, x, upstream), 3)
        for _ in range(repeats):  # interleaved, so drift hits all alike
            for name, step in steps_by_name.items():
                times[name].append(time_steps(step, (pooled, x, upstream), steps))
        medians = {name: statistics.median(t) for name, t in times.items()}
        rows.append((case, medians))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"median of {args.repeats} interleaved repeats of {args.steps} steps"
    )
    print(
        f"{'shape (b, h, w, c), pool':<28}{'MaxUnpooling2D':>16}{'argmax+scatter':>16}"
        f"{'UpSampling2D':>14}{'vs scatter':>12}{'vs upsample':>13}"
    )
    for xla in (True, False):
        print("XLA where it compiles (as Keras' fit runs it)" if xla else "no XLA (plain graphs)")
        report(run(args.repeats, args.steps, xla))


def report(rows):
    for case, m in rows:
        shape = (
            f"({case['batch']}, {case['size']}, {case['size']}, {case['channels']}), {case['pool']}"
        )
        ours, base, floor = (
            m["MaxUnpooling2D"],
            m["argmax+scatter_nd"],
            m["UpSampling2D"],
        )
        print(
            f"{shape:<28}{ours:>13.3f} ms{base:>13.3f} ms{floor:>11.3f} ms"
            f"{base / ours:>11.1f}x{ours / floor:>12.1f}x"
        )


if __name__ == "__main__":
    main()
