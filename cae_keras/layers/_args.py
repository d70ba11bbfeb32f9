"""Argument checks shared by the layers."""


def pair(name, value):
    """An int or a pair of positive ints as a tuple of two, or a clear error."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        value = tuple(value)
    except TypeError:
        value = (value,)
    if len(value) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise ValueError(f"`{name}` must be a positive integer or a tuple of two, got {value!r}.")
    return value
