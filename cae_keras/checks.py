"""Argument checks shared by the helpers and the lessons' first cells.

Each check returns the value it accepts (normalised where that helps, a list
of digits sorted, a point as a float32 array) or raises `ValueError` naming the
argument and what was expected, so a lesson stops on its parameters cell's
next line instead of minutes later inside a traceback.
"""

import math
import numbers

import numpy as np

# papermill's `-p name value` passes `value` as a string unless it looks like a
# number; lists need `-y "name: [...]"`. Said once, in every error about a list.
_PAPERMILL_LISTS = (
    ' (With papermill, pass lists as YAML: -y "{name}: [1, 5, 6]"; -p passes a string.)'
)


class ArgumentError(ValueError):
    """A bad value for one argument: a `ValueError` whose `argument` names it,
    so that the command line can name its flag without reading the message.

    Args:
        argument: the argument's name, as the function a user calls spells it.
        message: what was expected, and what came. Given alone (as Keras does
            when it re-raises a layer's error with the call's arguments added),
            the one value is the message and `argument` is `None`.
    """

    def __init__(self, argument, message=None):
        if message is None:
            argument, message = None, argument
        super().__init__(message)
        self.argument = argument


def is_int(value):
    """Whether `value` is an integer, Python's or NumPy's, and not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def images(name, value, rank=4):
    """`value` as a float32 NumPy array of `rank` dimensions (a batch of
    images, `(n, rows, cols, channels)` by default), or a `ValueError`
    naming `name`: a Python list of images is converted, not refused."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ArgumentError(
            name, f"`{name}` must be an array of numbers, got {type(value).__name__}."
        ) from None
    if array.ndim != rank:
        what = "(images, rows, cols, channels)" if rank == 4 else f"{rank} dimensions"
        raise ArgumentError(name, f"`{name}` must have shape {what}, got shape {array.shape}.")
    return array


def positive_int(name, value, minimum=1, why=""):
    """`value` as an `int` if it is an integer of at least `minimum` (1);
    `why` says, for the error, why a larger minimum."""
    if not is_int(value) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise ArgumentError(name, f"`{name}` must be {what}{why}, got {value!r}.")
    return int(value)


def seed(value, name="seed"):
    """A random seed: an integer of at least 0."""
    if not is_int(value) or value < 0:
        raise ArgumentError(name, f"`{name}` must be a non-negative integer, got {value!r}.")
    return int(value)


def each_once(name, value, check_one):
    """A non-empty list whose items each pass `check_one(item)` (which returns
    the item, normalised) and appear once: a job's seeds, digits, variants,
    sizes. A single item (a string, an integer) is a list of one."""
    if isinstance(value, str) or is_int(value):
        value = [value]
    if not hasattr(value, "__iter__"):
        raise ArgumentError(name, f"`{name}` must be a list, got {value!r}.")
    items = [check_one(v) for v in value]
    if not items or len(set(items)) != len(items):
        raise ArgumentError(name, f"`{name}` must name each item once (at least one), got {items}.")
    return items


def seeds(value, name="seeds"):
    """Random seeds, each once: a non-empty list of integers of at least 0 (one
    integer is a list of one)."""
    return each_once(name, value, lambda v: seed(v, name))


def optional_limit(name, value):
    """`None` (no limit) or a positive integer."""
    if value is None:
        return None
    if not is_int(value) or value < 1:
        raise ArgumentError(
            name, f"`{name}` must be a positive integer or None (no limit), got {value!r}."
        )
    return int(value)


def positive_number(name, value):
    """`value` as a `float` if it is a finite number above zero."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(value) or value <= 0:
        raise ArgumentError(name, f"`{name}` must be a finite positive number, got {value!r}.")
    return float(value)


def non_negative_number(name, value):
    """`value` as a `float` if it is a finite number of at least zero."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(value) or value < 0:
        raise ArgumentError(name, f"`{name}` must be a finite number >= 0, got {value!r}.")
    return float(value)


def rate(name, value):
    """A rate in [0, 1), such as a dropout rate."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not ok or not 0.0 <= value < 1.0:
        raise ArgumentError(name, f"`{name}` must be a number in [0, 1), got {value!r}.")
    return float(value)


def digits(value, name="digits", minimum=1):
    """A list of distinct digits 0..9, sorted; a single integer is a list of one.

    Args:
        value: the digits, an integer or a list of integers.
        name: the argument's name, for the error.
        minimum: how many distinct digits are needed.
    """
    hint = _PAPERMILL_LISTS.format(name=name) if isinstance(value, str) else ""
    if is_int(value):
        value = [value]
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise ArgumentError(
            name, f"`{name}` must be a list of integers in 0..9, got {value!r}.{hint}"
        )
    value = list(value)
    bad = [d for d in value if not is_int(d) or not 0 <= d <= 9]
    distinct = sorted({int(d) for d in value if d not in bad})
    if bad or len(distinct) < minimum:
        need = "a non-empty list" if minimum == 1 else f"a list of at least {minimum} different"
        raise ArgumentError(
            name,
            f"`{name}` must be {need} integers in 0..9, got {value!r}"
            + (f" (not allowed: {bad!r})." if bad else "."),
        )
    return distinct


def digit(name, value):
    """One digit, an integer in 0..9."""
    if not is_int(value) or not 0 <= value <= 9:
        raise ArgumentError(name, f"`{name}` must be one digit, an integer in 0..9, got {value!r}.")
    return int(value)


def index(name, value, size, what="images"):
    """An index into `size` items: an integer in 0..size-1."""
    if not is_int(value) or not 0 <= value < size:
        raise ArgumentError(
            name,
            f"`{name}` must be an integer in 0..{size - 1} (there are {size} {what}), "
            f"got {value!r}.",
        )
    return int(value)


def choice(name, value, allowed):
    """`value` if it is one of `allowed`."""
    if not isinstance(value, str) or value not in allowed:
        raise ArgumentError(name, f"`{name}` must be one of {sorted(allowed)}, got {value!r}.")
    return value


def point(name, value, dims):
    """`None`, or a point of `dims` finite coordinates as a float32 array."""
    if value is None:
        return None
    hint = _PAPERMILL_LISTS.format(name=name).replace("[1, 5, 6]", "[0.5, -1.0]")
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        array = None
    if isinstance(value, str) or array is None or array.shape != (dims,):
        raise ArgumentError(
            name,
            f"`{name}` must be None or a list of {dims} numbers (one per latent "
            f"dimension), got {value!r}." + (hint if isinstance(value, str) else ""),
        )
    if not np.all(np.isfinite(array)):
        raise ArgumentError(name, f"`{name}` must hold finite numbers, got {value!r}.")
    return array


def same_shape(name_a, shape_a, name_b, shape_b, what="the same shape"):
    """Raise `ValueError` naming both arguments unless `shape_a` and `shape_b`
    have the same rank and agree wherever both sizes are known (`None` is
    unknown). Paired inputs are checked, never broadcast."""
    shape_a, shape_b = tuple(shape_a), tuple(shape_b)
    if len(shape_a) != len(shape_b) or any(
        a is not None and b is not None and a != b for a, b in zip(shape_a, shape_b)
    ):
        raise ArgumentError(
            name_b,
            f"`{name_a}` and `{name_b}` must have {what}, got shapes {shape_a} and {shape_b}.",
        )


def pair(name, value, minimum=1):
    """An integer or a pair `(rows, cols)` of integers (NumPy's too), each at
    least `minimum`, as a tuple of two Python ints: window sizes, strides,
    canvas sizes. A clear `ValueError` naming `name` otherwise."""
    pair_ = (value, value) if is_int(value) else value
    try:
        pair_ = tuple(pair_)
    except TypeError:
        pair_ = ()
    if len(pair_) != 2 or not all(is_int(v) and v >= minimum for v in pair_):
        raise ArgumentError(
            name,
            f"`{name}` must be an integer or a pair (rows, cols) of integers of at least "
            f"{minimum}, got {value!r}.",
        )
    return tuple(int(v) for v in pair_)


def fraction(name, value):
    """`value` as a `float` if it is a number from 0 to 1 (a power, a share)."""
    value = non_negative_number(name, value)
    if value > 1:
        raise ArgumentError(name, f"`{name}` must be a number from 0 to 1, got {value!r}.")
    return value


def count_range(name, value, minimum=1):
    """An inclusive range `(low, high)` of integers of at least `minimum`
    with `low <= high` (an integer `n` is `(n, n)`), as a tuple of ints."""
    low, high = pair(name, value, minimum)
    if low > high:
        raise ArgumentError(
            name, f"`{name}` must be a range (low, high) with low <= high, got {value!r}."
        )
    return low, high
