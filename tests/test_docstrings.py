"""The `Example:` sections of the docstrings run and print what they say."""

import doctest

import keras
import numpy as np
import pytest

from cae_keras import anomaly, data, kernels, layers, metrics, models, shapes, tables
from cae_keras.layers import (
    crop_like,
    max_unpooling2d,
    tied_conv2d_transpose,
    variational_sampling,
)

MODULES = [
    data,
    shapes,
    kernels,
    metrics,
    models,
    anomaly,
    tables,
    crop_like,
    max_unpooling2d,
    tied_conv2d_transpose,
    variational_sampling,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    globs = {"np": np, "keras": keras, **vars(layers), **vars(module)}
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, globs=globs) if t.examples]
    assert tests, f"{module.__name__} has no examples"
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing examples in {module.__name__}"
