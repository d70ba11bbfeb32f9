"""Argument checks shared by the layers."""

import numbers


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def pair(name, value, minimum=1):
    """An int or a pair of ints (NumPy integers too) of at least `minimum` as
    a tuple of two Python ints, or a clear error."""
    if _is_int(value):
        value = (value, value)
    try:
        value = tuple(value)
    except TypeError:
        value = (value,)
    if len(value) != 2 or not all(_is_int(v) and v >= minimum for v in value):
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"`{name}` must be {what} or a tuple of two, got {value!r}.")
    return tuple(int(v) for v in value)
