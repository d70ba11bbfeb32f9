"""Output-size formulas: hand-worked cases and agreement with Keras."""

import itertools

import pytest

from cae_keras import shapes


def test_worked_examples():
    assert shapes.conv_output_length(4, 3, 1, "valid") == 2
    assert shapes.conv_output_length(5, 3, 1, "same") == 5
    assert shapes.conv_transpose_output_length(2, 3, 2, "valid") == 5
    assert shapes.pool_output_length(28, 4) == 7
    assert shapes.pool_output_length(28, 2) == 14
    # The latent autoencoder: 28 -> 14 -> 7 -> 1 and back.
    assert shapes.conv_output_length(28, 3, 2, "same") == 14
    assert shapes.conv_output_length(7, 7, 1, "valid") == 1
    assert shapes.conv_transpose_output_length(1, 7, 1, "valid") == 7
    assert shapes.conv_transpose_output_length(14, 7, 2, "same") == 28


def test_same_padding_puts_the_odd_zero_after():
    assert shapes.same_padding(5, 3, 1) == (1, 1)
    assert shapes.same_padding(5, 2, 2) == (0, 1)
    assert shapes.same_padding(28, 5, 1) == (2, 2)
    assert shapes.same_padding(8, 2, 2) == (0, 0)


CONV_GRID = [
    (n, k, s, padding)
    for n, k, s, padding in itertools.product(
        (3, 5, 7, 8, 28), (1, 2, 3, 5), (1, 2, 3), ("valid", "same")
    )
    if padding == "same" or k <= n  # a VALID kernel longer than the input has no output
]


@pytest.mark.parametrize("n,k,s,padding", CONV_GRID)
def test_conv_and_pool_agree_with_keras(n, k, s, padding):
    assert shapes.conv_output_length(n, k, s, padding) == shapes.keras_output_length(
        "conv", n, k, s, padding
    )
    assert shapes.pool_output_length(n, k, s, padding) == shapes.keras_output_length(
        "pool", n, k, s, padding
    )


@pytest.mark.parametrize(
    "n,k,s,padding",
    list(itertools.product((1, 2, 4, 7), (1, 2, 3, 5, 7), (1, 2, 3), ("valid", "same"))),
)
def test_transpose_agrees_with_keras(n, k, s, padding):
    for output_padding in (None, *range(s)):
        ours = shapes.conv_transpose_output_length(n, k, s, padding, output_padding)
        theirs = shapes.keras_output_length("transpose", n, k, s, padding, output_padding)
        assert ours == theirs, (n, k, s, padding, output_padding)


def test_dilation():
    assert shapes.dilated_kernel_size(3, 2) == 5
    assert shapes.conv_output_length(10, 3, 1, "valid", dilation_rate=2) == 6


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: shapes.conv_output_length(0, 3), "input_length"),
        (lambda: shapes.conv_output_length(5, 0), "kernel_size"),
        (lambda: shapes.conv_output_length(5, 3, 0), "strides"),
        (lambda: shapes.conv_output_length(5, 3, 1, "full"), "padding"),
        (lambda: shapes.conv_output_length(2, 3), "input_length"),
        (
            lambda: shapes.conv_transpose_output_length(2, 3, 2, "valid", 2),
            "output_padding",
        ),
        (lambda: shapes.keras_output_length("dense", 5, 3), "kind"),
    ],
)
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        call()
