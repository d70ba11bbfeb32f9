"""Convolution, transposed convolution, pooling and unpooling by hand, in NumPy.

Each function is the textbook definition written as plain loops over one image
of shape ``(height, width)`` (single channel), so a student can read it line by
line and the lessons and tests can check Keras against it. They are slow on
purpose: clarity over speed.
"""

import numpy as np

from cae_keras import checks, shapes


def _as_image(name, x):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D (height, width) array, got shape {x.shape}.")
    if x.size == 0:
        raise ValueError(f"`{name}` must hold at least one pixel, got shape {x.shape}.")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"`{name}` must hold numbers, got dtype {x.dtype}.")
    return x


def _stride(strides):
    return checks.positive_int("strides", strides)


def _pad_same_2d(x, kh, kw, strides):
    top, bottom = shapes.same_padding(x.shape[0], kh, strides)
    left, right = shapes.same_padding(x.shape[1], kw, strides)
    return np.pad(x, ((top, bottom), (left, right)))


def conv2d(x, kernel, strides=1, padding="valid"):
    """Cross-correlation, the operation deep-learning libraries call convolution.

    ``out[i, j] = sum_{a, b} x[i * s + a, j * s + b] * kernel[a, b]``.
    """
    x = _as_image("x", x).astype(np.float64)
    kernel = _as_image("kernel", kernel).astype(np.float64)
    strides, padding = _stride(strides), shapes.check_padding(padding)
    kh, kw = kernel.shape
    if padding == "same":
        x = _pad_same_2d(x, kh, kw, strides)
    elif kh > x.shape[0] or kw > x.shape[1]:
        raise ValueError(
            f"`kernel` of shape {kernel.shape} is larger than `x` of shape {x.shape}: "
            "a VALID convolution has no output (pad, or use padding='same')."
        )
    out_h = (x.shape[0] - kh) // strides + 1
    out_w = (x.shape[1] - kw) // strides + 1
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = x[i * strides : i * strides + kh, j * strides : j * strides + kw]
            out[i, j] = np.sum(window * kernel)
    return out


def conv2d_transpose(x, kernel, strides=1):
    """Transposed convolution (VALID), defined by scattering.

    Every input pixel stamps a copy of the kernel, scaled by its value, onto the
    output at ``(i * s, j * s)``; overlapping stamps add up. The output is
    ``(n - 1) * s + k`` long.
    """
    x = _as_image("x", x).astype(np.float64)
    kernel = _as_image("kernel", kernel).astype(np.float64)
    strides = _stride(strides)
    kh, kw = kernel.shape
    out = np.zeros(((x.shape[0] - 1) * strides + kh, (x.shape[1] - 1) * strides + kw))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i * strides : i * strides + kh, j * strides : j * strides + kw] += x[i, j] * kernel
    return out


def zero_stuff(x, strides):
    """Insert ``strides - 1`` zeros between neighbouring pixels."""
    x = _as_image("x", x)
    strides = _stride(strides)
    out = np.zeros(((x.shape[0] - 1) * strides + 1, (x.shape[1] - 1) * strides + 1), x.dtype)
    out[::strides, ::strides] = x
    return out


def conv2d_transpose_as_conv(x, kernel, strides=1):
    """The same transposed convolution as an ordinary convolution.

    Zero-stuff the input, pad ``k - 1`` zeros on every side, and correlate with
    the kernel rotated by 180 degrees.
    """
    kernel = _as_image("kernel", kernel)
    kh, kw = kernel.shape
    stuffed = np.pad(zero_stuff(x, strides), ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    return conv2d(stuffed, np.rot90(kernel, 2))


def max_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Max pooling that also returns where each maximum was.

    ``pool_size`` and ``strides`` are an int or a ``(rows, cols)`` pair;
    ``strides=None`` means ``pool_size``.

    Returns:
        ``(pooled, switches)``: the pooled image and, for every pooled pixel,
        the ``(row, column)`` in ``x`` of its window's first maximum in
        row-major order (the "switch variables" of Noh et al.). A window that
        holds a NaN pools to NaN and switches to its first cell in the image.
    """
    x = _as_image("x", x)
    kh, kw = checks.pair("pool_size", pool_size)
    sh, sw = (kh, kw) if strides is None else checks.pair("strides", strides)
    padding = shapes.check_padding(padding)
    top = left = 0
    if padding == "same":
        top, _ = shapes.same_padding(x.shape[0], kh, sh)
        left, _ = shapes.same_padding(x.shape[1], kw, sw)
    out_h = shapes.pool_output_length(x.shape[0], kh, sh, padding)
    out_w = shapes.pool_output_length(x.shape[1], kw, sw, padding)
    pooled = np.zeros((out_h, out_w), x.dtype)
    switches = np.zeros((out_h, out_w, 2), np.int64)
    for i in range(out_h):
        for j in range(out_w):
            # Windows may hang over the edge with SAME padding: skip those cells.
            cells = [
                (a, b)
                for a in range(i * sh - top, i * sh - top + kh)
                for b in range(j * sw - left, j * sw - left + kw)
                if 0 <= a < x.shape[0] and 0 <= b < x.shape[1]
            ]
            best = cells[0]
            has_nan = any(np.isnan(x[cell]) for cell in cells)
            if not has_nan:
                for cell in cells:
                    if x[cell] > x[best]:  # strictly: ties keep the first
                        best = cell
            pooled[i, j] = np.nan if has_nan else x[best]
            switches[i, j] = best
    return pooled, switches


def max_unpool2d(pooled, pool_input, pool_size=2, strides=None, padding="valid"):
    """Max unpooling: send each pooled value back to where its window's max was.

    The positions are recomputed from ``pool_input`` (CNTK's way); all other
    output pixels are zero, and values sent to one pixel by overlapping windows
    add up.
    """
    pooled = _as_image("pooled", pooled)
    pool_input = _as_image("pool_input", pool_input)
    _, switches = max_pool2d(pool_input, pool_size, strides, padding)
    if switches.shape[:2] != pooled.shape:
        raise ValueError(
            f"`pooled` has shape {pooled.shape} but pooling `pool_input` of shape "
            f"{pool_input.shape} gives {switches.shape[:2]}."
        )
    out = np.zeros(pool_input.shape, np.result_type(pooled.dtype, np.float32))
    for i in range(pooled.shape[0]):
        for j in range(pooled.shape[1]):
            a, b = switches[i, j]
            out[a, b] += pooled[i, j]
    return out
