"""Argument checks shared by the layers."""


def pair(name, value, minimum=1):
    """An int or a pair of ints of at least `minimum` as a tuple of two, or a
    clear error."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        value = tuple(value)
    except TypeError:
        value = (value,)
    if len(value) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value
    ):
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"`{name}` must be {what} or a tuple of two, got {value!r}.")
    return value
