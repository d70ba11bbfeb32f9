"""Operations whose fast form differs per backend: max unpooling and the vjp.

Each public function here holds the docstring, the checks and the shape logic;
the per-backend bodies below it are only the arithmetic, and the backend is
chosen in one place, by `keras.backend.backend()`. Layers and lessons call the
public functions and stay backend-neutral.

Max unpooling has one semantics on every backend (the docstring of
`max_unpool2d` states it) and three routes to it:

- TensorFlow: the keras.ops formula below, always compiled by XLA as one
  fused kernel (also inside the plain graphs that Keras' `fit` runs on a
  CPU-only machine), with a gradient that reuses the window offsets chosen
  in the forward pass.
- JAX: the same formula; `jax.jit` (as Keras' `fit` uses) fuses it.
- PyTorch: the native `max_pool2d(..., return_indices=True)` kernel finds the
  positions; PyTorch's own `max_unpool2d` sends the values where windows do
  not overlap, and `scatter_add` where they do, so that overlaps add up
  (`max_unpool2d` would overwrite them). Windows whose maximum is NaN or -inf
  are moved to their first cell afterwards, because PyTorch's kernel picks
  the last NaN and may pick a padding cell.
"""

import contextlib
import threading

import keras
from keras import ops

from cae_keras import shapes


def max_unpool2d(pooled, pool_input, pool_size, strides, padding):
    """Send each pooled value to where its window's maximum is in `pool_input`.

    The rule, the same on every backend and device:

    - Each window of `pool_input` (as `MaxPooling2D(pool_size, strides,
      padding)` lays them out) sends its value in `pooled` to exactly one of
      its cells inside the image: the first cell, in row-major order, that
      holds the window's maximum. Ties (an all-zero window after a ReLU, an
      all `-inf` window) go to the first of the tied cells.
    - A window that holds a NaN has no maximum: its value goes to the first
      cell of the window inside the image (NaN compares false with every
      number, so no cell "is" the maximum).
    - Padding cells (`padding="same"`) never receive a value; cells that no
      window covers (`padding="valid"`) stay zero.
    - Values that overlapping windows (`strides < pool_size`) send to one cell
      add up, so the operation is the transpose of max pooling's selection:
      the gradient of max pooling with respect to its input, evaluated with
      `pooled` as the upstream gradient.

    The gradient with respect to `pooled` is exact (each window receives the
    upstream gradient at the cell it chose); `pool_input` gets zeros.

    `MaxUnpooling2D` checks the shapes and casts what is not floating-point
    before it calls this; sizes known only when a TensorFlow graph runs are
    checked here, as `InvalidArgumentError`.

    Args:
        pooled: tensor `(batch, pooled_rows, pooled_cols, channels)`.
        pool_input: tensor `(batch, rows, cols, channels)`; pooling it with
            these arguments gives `pooled`'s rows and columns.
        pool_size: pair of positive ints.
        strides: pair of positive ints.
        padding: `"valid"` or `"same"` (TensorFlow's windows: the odd padded
            row or column goes after).

    Returns:
        A tensor with the shape of `pool_input` and the dtype of `pooled`.

    """
    (kh, kw), (sh, sw) = pool_size, strides
    config = ((kh, kw), (sh, sw), padding)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _max_unpool2d_tensorflow(pooled, pool_input, config)
    if backend == "torch":
        return _max_unpool2d_torch(pooled, pool_input, config)
    return _unpool_with_gradient(config)(pooled, pool_input)


def positions_dtype(pool_size):
    """The smallest integer dtype that holds every offset of a window of
    `pool_size`: `"uint8"` up to 256 cells (16x16), then `"uint16"`, then
    `"int32"`."""
    cells = pool_size[0] * pool_size[1]
    return "uint8" if cells <= 2**8 else "uint16" if cells <= 2**16 else "int32"


def max_pool_with_positions(x, pool_size, strides, padding):
    """Max pooling that also returns where each maximum was.

    `pooled` is exactly `keras.ops.max_pool(x, pool_size, strides, padding)`
    (what `MaxPooling2D` gives). `positions` holds, for every pooled value,
    the offset `a * pool_cols + b` inside its window of the cell that
    `max_unpool2d` would send the value to: the same rule (first maximum in
    row-major order, NaN windows to their first cell in the image, padding
    never chosen), so that unpooling from `positions` gives exactly what
    unpooling from `x` gives.

    Args:
        x: floating-point tensor `(batch, rows, cols, channels)`.
        pool_size, strides: pairs of positive ints.
        padding: `"valid"` or `"same"`.

    Returns:
        `(pooled, positions)`, both of pooled's shape; `positions` of dtype
        `positions_dtype(pool_size)`.
    """
    config = (tuple(pool_size), tuple(strides), shapes.check_padding(padding))
    pooled = ops.max_pool(x, config[0], config[1], config[2])
    if keras.backend.backend() == "tensorflow" and not _portable.on:
        kernel = _TF_KERNELS.get(("positions", config))
        if kernel is None:
            import tensorflow as tf

            # One fused pass, as for unpooling (see _max_unpool2d_tensorflow).
            kernel = tf.function(_positions, jit_compile=True, reduce_retracing=True)
            _TF_KERNELS[("positions", config)] = kernel
        return pooled, kernel(x, config)
    return pooled, _positions(x, config)


def _positions(x, config):
    swap = _batch_last(x)
    if swap:
        x = ops.transpose(x, _SWAP)
    offset, _ = _choose_offsets(x, config)
    offset = ops.cast(offset, positions_dtype(config[0]))
    return ops.transpose(offset, _SWAP) if swap else offset


def max_unpool2d_from_positions(pooled, positions, output_size, pool_size, strides, padding):
    """Send each pooled value to the cell of its window that `positions` names.

    The same operation as `max_unpool2d`, with the cells already chosen (by
    `max_pool_with_positions`) instead of found again from the pooling input:
    each value goes to offset `positions = a * pool_cols + b` of its window,
    values that overlapping windows send to one cell add up, and the output
    has `output_size` rows and columns. The gradient with respect to `pooled`
    is the upstream gradient read back at those cells; `positions` gets none.

    An offset outside the window (`>= pool_rows * pool_cols`), or one that
    points into SAME padding, delivers nothing: `max_pool_with_positions`
    never makes one.

    Args:
        pooled: floating-point tensor `(batch, pooled_rows, pooled_cols,
            channels)`.
        positions: integer tensor of the same shape.
        output_size: `(rows, cols)`, ints or scalar tensors; pooling an image
            of this size with these arguments must give pooled's rows and
            columns.
        pool_size, strides: pairs of positive ints.
        padding: `"valid"` or `"same"`.

    Returns:
        A tensor `(batch, rows, cols, channels)` of pooled's dtype.
    """
    # `MaxUnpooling2D` checked every shape it can see; a size known only when
    # a TensorFlow graph runs is checked below, where it becomes known.
    config = (tuple(pool_size), tuple(strides), padding)
    pooled_shape, positions_shape = known_shape(pooled.shape), known_shape(positions.shape)
    rows, cols = output_size
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if None in pooled_shape + positions_shape + known_shape((rows, cols)):
            (kh, kw), (sh, sw), pad = config
            got = tf.concat([tf.shape(pooled), tf.shape(positions)], 0)
            want_rows = _pool_length(rows, kh, sh, pad)
            want_cols = _pool_length(cols, kw, sw, pad)
            want = tf.shape(pooled)
            want = tf.stack([want[0], want_rows, want_cols, want[3]])
            tf.debugging.assert_equal(
                got,
                tf.concat([want, want], 0),
                message="`pooled` and `positions` must have the shape that pooling an image "
                f"of `output_size` gives (pool_size=({kh}, {kw}), strides=({sh}, {sw}), "
                f"padding={pad!r}); x is both shapes, y what they should be:",
                summarize=8,
            )
        if _portable.on:
            return _scatter_positions(pooled, positions, rows, cols, config)
        # The size travels as the shape of an empty tensor: XLA needs it known
        # when it compiles (a shape is), and one trace then serves every size
        # (Python ints would be traced anew for each).
        size = tf.zeros(tf.stack([0, rows, cols, 0]), pooled.dtype)
        kernel = _TF_KERNELS.get(("from_positions", config))
        if kernel is None:
            compile_ = dict(jit_compile=True, reduce_retracing=True)
            kernel = _unpool_from_positions_with_gradient(
                config,
                forward=tf.function(_scatter_positions_sized, **compile_),
                backward=tf.function(_gather_positions, **compile_),
            )
            _TF_KERNELS[("from_positions", config)] = kernel
        return kernel(pooled, positions, size)
    if backend == "torch":
        return _max_unpool2d_from_positions_torch(pooled, positions, rows, cols, config)
    # JAX differentiates the formula itself: the gradient of each
    # `where(positions == j, pooled, 0)` is the upstream value read back at j.
    return _scatter_positions(pooled, positions, rows, cols, config)


def _positions_geometry(pooled, rows, cols, config):
    out_rows, out_cols = ops.shape(pooled)[1], ops.shape(pooled)[2]
    before, spans = _geometry(config, rows, cols, out_rows, out_cols)
    return before, spans, (rows, cols), (out_rows, out_cols)


def _scatter_positions(pooled, positions, rows, cols, config):
    swap = _batch_last(pooled)
    if swap:
        pooled, positions = ops.transpose(pooled, _SWAP), ops.transpose(positions, _SWAP)
    out = _scatter(pooled, positions, config, _positions_geometry(pooled, rows, cols, config))
    return ops.transpose(out, _SWAP) if swap else out


def _scatter_positions_sized(pooled, positions, size, config):
    """`_scatter_positions` to the rows and columns of `size`'s shape."""
    return _scatter_positions(pooled, positions, ops.shape(size)[1], ops.shape(size)[2], config)


def _gather_positions(upstream, positions, config):
    swap = _batch_last(positions)
    if swap:
        upstream, positions = ops.transpose(upstream, _SWAP), ops.transpose(positions, _SWAP)
    rows, cols = ops.shape(upstream)[1], ops.shape(upstream)[2]
    grad = _gather(upstream, positions, config, _positions_geometry(positions, rows, cols, config))
    return ops.transpose(grad, _SWAP) if swap else grad


def _unpool_from_positions_with_gradient(config, forward, backward):
    """TensorFlow: the compiled scatter, and the compiled gather as its gradient."""
    import tensorflow as tf

    def unpool(pooled, positions, size):
        @tf.custom_gradient
        def run(pooled_):
            def grad(upstream):
                return backward(upstream, positions, config)

            return forward(pooled_, positions, size, config), grad

        return run(pooled)

    return unpool


def vjp(fn, primals, cotangent):
    """Vector-Jacobian product: the gradient of `sum(fn(*primals) * cotangent)`.

    This is what back-propagation computes for `fn` when `cotangent` arrives
    from the layer above; lessons use it to show that a transposed operation
    is the gradient of the forward one, on every backend.

    Args:
        fn: a function of tensors returning one tensor.
        primals: list of input tensors (or arrays) of `fn`.
        cotangent: tensor (or array) with the shape of `fn`'s output.

    Returns:
        A list with one gradient per primal, as NumPy arrays.

    Example:

    >>> (grad,) = vjp(lambda x: 3.0 * x, [np.ones(2, "float32")], np.array([1.0, 2.0], "float32"))
    >>> grad
    array([3., 6.], dtype=float32)
    """
    if not isinstance(primals, (list, tuple)) or not primals:
        raise ValueError(f"`primals` must be a non-empty list of tensors, got {primals!r}.")
    primals = [ops.convert_to_tensor(p) for p in primals]
    cotangent = ops.convert_to_tensor(cotangent)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        grads = _vjp_tensorflow(fn, primals, cotangent)
    elif backend == "jax":
        grads = _vjp_jax(fn, primals, cotangent)
    elif backend == "torch":
        grads = _vjp_torch(fn, primals, cotangent)
    else:
        raise NotImplementedError(f"vjp has no implementation for backend {backend!r}.")
    return [ops.convert_to_numpy(g) for g in grads]


def _check_cotangent(out, cotangent):
    """The cotangent weighs `fn`'s output element by element: same shape."""
    if tuple(out.shape) != tuple(cotangent.shape):
        raise ValueError(
            f"`cotangent` must have the shape of `fn`'s output {tuple(out.shape)}, "
            f"got {tuple(cotangent.shape)}."
        )


def known_shape(shape):
    """`shape` with every size that is not a plain integer as `None`: sizes
    known only at run time, or symbolic (as jax2tf's exporter traces them)."""
    return tuple(d if isinstance(d, int) else None for d in shape)


# -- the keras.ops formula (TensorFlow through XLA, and JAX) ------------------


def _int_max0(value):
    """max(value, 0) for a Python int or a scalar tensor (unknown shapes)."""
    return max(value, 0) if isinstance(value, int) else ops.maximum(value, 0)


def _geometry(config, rows, cols, out_rows, out_cols):
    """Padding before the image and the span the windows cover, per axis."""
    (kh, kw), (sh, sw), padding = config
    spans = ((out_rows - 1) * sh + kh, (out_cols - 1) * sw + kw)
    if padding == "same":
        # TensorFlow's SAME: total padding max(span - n, 0), the odd one after.
        before = (_int_max0(spans[0] - rows) // 2, _int_max0(spans[1] - cols) // 2)
    else:
        before = (0, 0)
    return before, spans


def _to_windows(x, before, spans, sizes, value):
    """`x` padded with `value` before the image and cropped or padded after it,
    so that it holds exactly the rows and columns the windows cover."""
    (top, left), (span_r, span_c), (rows, cols) = before, spans, sizes
    after_r = _int_max0(span_r - top - rows)
    after_c = _int_max0(span_c - left - cols)
    x = ops.pad(x, [[0, 0], [top, after_r], [left, after_c], [0, 0]], constant_values=value)
    return x[:, :span_r, :span_c, :]


def _taps(x, config, out_rows, out_cols):
    """Offset (a, b) of every window, as one strided slice per offset."""
    (kh, kw), (sh, sw), _ = config
    if (kh, kw) == (sh, sw) and not _portable.on:
        # Windows that tile `x`: a reshape splits each axis into (window,
        # offset), and every tap is a plain slice of it.
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], out_rows, kh, out_cols, kw, shape[3]))
        return [x[:, :, a, :, b, :] for a in range(kh) for b in range(kw)]
    return [
        x[:, a : a + (out_rows - 1) * sh + 1 : sh, b : b + (out_cols - 1) * sw + 1 : sw, :]
        for a in range(kh)
        for b in range(kw)
    ]


def _choose_offsets(pool_input, config):
    """For every window, the offset `a * kw + b` of the cell that gets its value."""
    (kh, kw), (sh, sw), padding = config
    rows, cols = ops.shape(pool_input)[1], ops.shape(pool_input)[2]
    out_rows = _pool_length(rows, kh, sh, padding)
    out_cols = _pool_length(cols, kw, sw, padding)
    before, spans = _geometry(config, rows, cols, out_rows, out_cols)
    x = _to_windows(pool_input, before, spans, (rows, cols), float("-inf"))
    taps = _taps(x, config, out_rows, out_cols)
    window_max, has_nan = taps[0], ops.isnan(taps[0])
    for tap in taps[1:]:
        window_max = ops.maximum(window_max, tap)
        # Checked, not left to `maximum`: XLA's CPU maximum drops NaN.
        has_nan = ops.logical_or(has_nan, ops.isnan(tap))
    # Padding cells before the image (SAME) may tie with an all -inf window:
    # they are never chosen. Cells after the image come after a real cell.
    pad_rows = pad_cols = None
    if padding == "same":
        row, col = ops.arange(out_rows) * sh, ops.arange(out_cols) * sw
        pad_rows = [(row + a < before[0])[None, :, None, None] for a in range(kh)]
        pad_cols = [(col + b < before[1])[None, None, :, None] for b in range(kw)]
    # Walk the offsets from last to first, so the earliest cell that is not
    # below the maximum wins. A window with a NaN skips no cell, so its first
    # cell in the image wins, as the rule says.
    offset = None
    for j in reversed(range(kh * kw)):
        a, b = divmod(j, kw)
        skip = ops.logical_and(ops.less(taps[j], window_max), ops.logical_not(has_nan))
        if pad_rows is not None:
            skip = ops.logical_or(skip, ops.logical_or(pad_rows[a], pad_cols[b]))
        here = ops.full(ops.shape(window_max), j, "int32")
        offset = here if offset is None else ops.where(skip, offset, here)
    return offset, (before, spans, (rows, cols), (out_rows, out_cols))


def _pool_length(n, k, s, padding):
    """`shapes.pool_output_length` for a Python int or a scalar tensor."""
    if isinstance(n, int):
        return shapes.pool_output_length(n, k, s, padding)
    if padding == "same":
        return (n + s - 1) // s
    return (n - k) // s + 1


def _scatter(pooled, offset, config, geometry):
    """Each pooled value at its window's chosen offset; overlaps add up."""
    (kh, kw), (sh, sw), _ = config
    before, spans, sizes, (out_rows, out_cols) = geometry
    channels = ops.shape(pooled)[3]
    over_h, over_w = (kh - 1) // sh, (kw - 1) // sw
    # Output cell (i * sh + a) is row (i + a // sh) of residue class a % sh:
    # sum each class on a grid one block larger per overhang, then interleave.
    zero = ops.zeros((), pooled.dtype)
    blocks = {}
    for j in range(kh * kw):
        a, b = divmod(j, kw)
        part = ops.where(ops.equal(offset, j), pooled, zero)
        if over_h or over_w:
            part = ops.pad(
                part, [[0, 0], [a // sh, over_h - a // sh], [b // sw, over_w - b // sw], [0, 0]]
            )
        key = (a % sh, b % sw)
        blocks[key] = part if key not in blocks else blocks[key] + part
    empty = ops.zeros_like(next(iter(blocks.values())))
    # Interleave columns, then rows: never more than five dimensions, which
    # LiteRT's kernels require.
    interleaved = []
    for ra in range(sh):
        row = ops.stack([blocks.get((ra, rb), empty) for rb in range(sw)], axis=3)
        shape = ops.shape(row)
        interleaved.append(ops.reshape(row, (shape[0], shape[1], shape[2] * sw, shape[4])))
    grid = ops.stack(interleaved, axis=2)
    rows, cols = (out_rows + over_h) * sh, (out_cols + over_w) * sw
    out = ops.reshape(grid, (ops.shape(pooled)[0], rows, cols, channels))
    return _to_image(out, before, spans, sizes)


def _to_image(out, before, spans, sizes):
    """From the windows' frame back to the image: cut the padding, and add the
    rows and columns no window covers (zero)."""
    (top, left), (span_r, span_c), (n_rows, n_cols) = before, spans, sizes
    out = out[:, :span_r, :span_c, :]
    after_r, after_c = _int_max0(n_rows + top - span_r), _int_max0(n_cols + left - span_c)
    out = ops.pad(out, [[0, 0], [0, after_r], [0, after_c], [0, 0]])
    return out[:, top : top + n_rows, left : left + n_cols, :]


def _gather(upstream, offset, config, geometry):
    """The gradient: each window reads the upstream value at its chosen cell."""
    before, spans, sizes, (out_rows, out_cols) = geometry
    up = _to_windows(upstream, before, spans, sizes, 0.0)
    grad = None
    for j, tap in enumerate(_taps(up, config, out_rows, out_cols)):
        part = ops.where(ops.equal(offset, j), tap, ops.zeros((), tap.dtype))
        grad = part if grad is None else grad + part
    return grad


# Batch and channels are alike to the formula (both independent), so it may
# run on tensors with the two swapped. XLA vectorises along the last axis: with
# few channels, putting the batch there makes the kernel about 1.5x faster.
_FEW_CHANNELS = 4
_SWAP = (3, 1, 2, 0)


def _batch_last(x):
    return x.shape[3] is not None and x.shape[3] <= _FEW_CHANNELS


def _forward(pooled, pool_input, config, swap):
    """The unpooled tensor and, per window, the offset that received its value
    (in the layout the formula ran in: batch last if `swap`)."""
    if swap:
        pooled, pool_input = ops.transpose(pooled, _SWAP), ops.transpose(pool_input, _SWAP)
    offset, geometry = _choose_offsets(pool_input, config)
    # Same shape as the chosen offsets: a batch mismatch fails here, in every
    # mode, instead of broadcasting one sample over the others.
    pooled = ops.reshape(pooled, ops.shape(offset))
    out = _scatter(pooled, offset, config, geometry)
    return (ops.transpose(out, _SWAP) if swap else out), offset


def _backward(upstream, offset, config, swap):
    """The gradient with respect to `pooled`, from the offsets chosen forward."""
    if swap:
        upstream = ops.transpose(upstream, _SWAP)
    rows, cols = ops.shape(upstream)[1], ops.shape(upstream)[2]
    out_rows, out_cols = ops.shape(offset)[1], ops.shape(offset)[2]
    before, spans = _geometry(config, rows, cols, out_rows, out_cols)
    grad = _gather(upstream, offset, config, (before, spans, (rows, cols), (out_rows, out_cols)))
    return ops.transpose(grad, _SWAP) if swap else grad


def _unpool_with_gradient(config, forward=_forward, backward=_backward):
    """Max unpooling whose gradient reuses the forward pass's chosen offsets."""

    @ops.custom_gradient
    def unpool(pooled, pool_input):
        swap = _batch_last(pool_input)
        out, offset = forward(pooled, pool_input, config, swap)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            # `pool_input` only chooses positions. TensorFlow takes None for
            # "no gradient" and skips adding a tensor of zeros; JAX needs one.
            no_grad = (
                None if keras.backend.backend() == "tensorflow" else ops.zeros_like(pool_input)
            )
            return backward(upstream, offset, config, swap), no_grad

        return out, grad

    return unpool


# -- TensorFlow ---------------------------------------------------------------

_TF_KERNELS = {}


class _Portable(threading.local):
    on = False


_portable = _Portable()


@contextlib.contextmanager
def portable():
    """Trace max unpooling as plain TensorFlow ops, for converters.

    By default the TensorFlow kernel is an XLA-compiled function with its own
    gradient, and tiles windows with a six-dimensional reshape: the fastest
    form for training, but one that the ONNX converter (tf2onnx) cannot
    inline and LiteRT cannot run. Inside this context the layer traces the
    same formula as ordinary ops of at most five dimensions (for inference;
    the values are the same). `model.export` needs it for ONNX and LiteRT:

    >>> with kernels.portable():                       # doctest: +SKIP
    ...     model.export("model.onnx", format="onnx")
    """
    previous, _portable.on = _portable.on, True
    try:
        yield
    finally:
        _portable.on = previous


def _max_unpool2d_tensorflow(pooled, pool_input, config):
    import tensorflow as tf

    if None in tuple(pooled.shape) + tuple(pool_input.shape):
        # Sizes known only at run time (a graph traced for any size): check
        # them then, never reshaping one input into the other's shape.
        (kh, kw), (sh, sw), padding = config
        got, size = tf.shape(pooled), tf.shape(pool_input)
        want = tf.stack(
            [
                size[0],
                _pool_length(size[1], kh, sh, padding),
                _pool_length(size[2], kw, sw, padding),
                size[3],
            ]
        )
        (kh, kw), (sh, sw), padding = config
        tf.debugging.assert_equal(
            got,
            want,
            message=f"`pooled` must have the batch, rows, columns and channels that pooling "
            f"`pool_input` gives (pool_size=({kh}, {kw}), strides=({sh}, {sw}), "
            f"padding={padding!r}); x is the shape of `pooled`, y what pooling "
            "`pool_input` gives:",
            summarize=8,
        )
    if _portable.on:
        swap = _batch_last(pool_input)
        return _forward(pooled, pool_input, config, swap)[0]
    kernel = _TF_KERNELS.get(config)
    if kernel is None:
        # XLA fuses the whole formula into one pass, also when the model
        # around it runs as a plain graph (Keras' `fit` on a CPU-only machine):
        # unfused, its many small elementwise ops cost ten times more.
        compile_ = dict(jit_compile=True, reduce_retracing=True)
        kernel = _unpool_with_gradient(
            config,
            forward=tf.function(_forward, **compile_),
            backward=tf.function(_backward, **compile_),
        )
        _TF_KERNELS[config] = kernel
    return kernel(pooled, pool_input)


def _vjp_tensorflow(fn, primals, cotangent):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(primals)
        out = fn(*primals)
    _check_cotangent(out, cotangent)
    grads = tape.gradient(out, primals, output_gradients=cotangent)
    return [tf.zeros_like(p) if g is None else g for p, g in zip(primals, grads)]


# -- JAX ------------------------------------------------------------------------


def _vjp_jax(fn, primals, cotangent):
    import jax

    out, pullback = jax.vjp(fn, *primals)
    _check_cotangent(out, cotangent)
    return list(pullback(cotangent))


# -- PyTorch --------------------------------------------------------------------


def _max_unpool2d_torch(pooled, pool_input, config):
    import torch
    import torch.nn.functional as F

    (kh, kw), (sh, sw), padding = config
    rows, cols = pool_input.shape[1], pool_input.shape[2]
    out_rows, out_cols = pooled.shape[1], pooled.shape[2]
    (top, left), (span_r, span_c) = _geometry(config, rows, cols, out_rows, out_cols)
    with torch.no_grad():
        # NHWC seen as NCHW is PyTorch's channels_last layout: no copy.
        x = pool_input.permute(0, 3, 1, 2)
        pad = (left, max(span_c - left - cols, 0), top, max(span_r - top - rows, 0))
        if any(pad):
            x = F.pad(x, pad, value=float("-inf"))
        window_max, index = F.max_pool2d(x, (kh, kw), (sh, sw), return_indices=True)
        # A NaN or -inf maximum (`not > -inf` catches both): the first cell
        # of the window in the image. Checked on the CPU, where it is cheap,
        # so that clean maps skip the fix; on a GPU the check would wait.
        padded_cols = x.shape[3]
        degenerate = torch.logical_not(window_max > float("-inf"))
        if index.device.type != "cpu" or bool(degenerate.any()):
            first_row = torch.clamp(torch.arange(out_rows, device=x.device) * sh, min=top)
            first_col = torch.clamp(torch.arange(out_cols, device=x.device) * sw, min=left)
            first = first_row[:, None] * padded_cols + first_col[None, :]
            index = torch.where(degenerate, first, index)
    return _scatter_torch(pooled, index, config, (rows, cols), (top, left), x.shape[2:])


def _max_unpool2d_from_positions_torch(pooled, positions, rows, cols, config):
    """The flat index of each position in the padded frame, then the same
    scatter as from the pooling input (so both sum overlaps in one order)."""
    import torch

    (kh, kw), (sh, sw), _ = config
    out_rows, out_cols = pooled.shape[1], pooled.shape[2]
    (top, left), (span_r, span_c) = _geometry(config, rows, cols, out_rows, out_cols)
    frame = (top + rows + max(span_r - top - rows, 0), left + cols + max(span_c - left - cols, 0))
    with torch.no_grad():
        device = positions.device
        # Each window's first cell, plus each offset's step from it: two small
        # tables, one lookup and one add over the pooled map.
        rows_ = torch.arange(out_rows, device=device)[:, None] * (sh * frame[1])
        corner = rows_ + torch.arange(out_cols, device=device)[None, :] * sw
        offsets = torch.arange(kh * kw, device=device)
        step = (offsets // kw) * frame[1] + offsets % kw
        index = corner + step[positions.permute(0, 3, 1, 2).to(torch.int64)]
    return _scatter_torch(pooled, index, config, (rows, cols), (top, left), frame)


def _scatter_torch(pooled, index, config, sizes, before, frame):
    """`pooled` (NHWC) sent to flat `index` (NCHW) of the padded frame, cut
    back to the image."""
    import torch
    import torch.nn.functional as F

    (kh, kw), (sh, sw), _ = config
    (rows, cols), (top, left), (padded_rows, padded_cols) = sizes, before, frame
    batch, channels = pooled.shape[0], pooled.shape[3]
    values = pooled.permute(0, 3, 1, 2)
    if sh >= kh and sw >= kw:
        # Windows do not overlap: every index is distinct, so PyTorch's own
        # unpooling (which overwrites) equals the sum.
        out = F.max_unpool2d(
            values, index, (kh, kw), (sh, sw), output_size=(padded_rows, padded_cols)
        )
    else:
        flat = torch.zeros(
            (batch, channels, padded_rows * padded_cols), dtype=values.dtype, device=values.device
        )
        flat = flat.scatter_add(2, index.flatten(2), values.flatten(2))
        out = flat.view(batch, channels, padded_rows, padded_cols)
    out = out[:, :, top : top + rows, left : left + cols]
    return out.permute(0, 2, 3, 1)


def _vjp_torch(fn, primals, cotangent):
    import torch

    primals = [p.detach().requires_grad_(True) for p in primals]
    out = fn(*primals)
    _check_cotangent(out, cotangent)
    grads = torch.autograd.grad(out, primals, grad_outputs=cotangent, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(primals, grads)]
