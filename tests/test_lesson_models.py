"""One architecture, never two that drift: each lesson writes its model out
in Keras layers for a student to read, and where a command trains the same
model the package builds it too. These tests run a lesson's own cells (its
imports, its parameters and the cells tagged `model`) and compare what they
build with the package's model: layer by layer, type, name, config, output
shape and parameter count. Lessons without a command (07, 08, 09) are
checked against hand counts instead."""

import keras
import nbformat
import numpy as np
import pytest

from cae_keras import models, reproduce
from cae_keras.layers import TiedConv2DTranspose
from tests.layer_testing import conv_params
from tests.lesson_runs import NOTEBOOKS, lesson_namespace


def _shapes(tensors):
    return keras.tree.map_structure(lambda t: tuple(t.shape), tensors)


def architecture(model):
    """Everything that makes an architecture, and nothing a run changes (the
    weights' values, the model's own name)."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # a sub-model: compared layer by layer
            rows.append(("Model", layer.name, architecture(layer), _shapes(layer.output)))
            continue
        rows.append(
            (
                type(layer).__name__,
                layer.name,
                layer.get_config(),
                _shapes(layer.output),
                layer.count_params(),
            )
        )
    return rows


def assert_same(lesson_model, package_model):
    assert architecture(lesson_model) == architecture(package_model)
    assert lesson_model.count_params() == package_model.count_params()
    assert len(lesson_model.trainable_weights) == len(package_model.trainable_weights)


@pytest.mark.parametrize("cmap,pool", [(1, 4), (3, 4), (1, 2)])
@pytest.mark.parametrize("recipe", ["cntk", "ours"])
def test_lesson_04_builds_the_reproduce_command_s_model(cmap, pool, recipe):
    ns = lesson_namespace("04_cntk_autoencoder.ipynb")
    bias = "zeros" if recipe == "cntk" else keras.initializers.Constant(0.1)
    lesson = ns["cntk_autoencoder"](cmap, pool, bias)
    initializers = reproduce._initializers(reproduce.RECIPES[recipe])
    package = reproduce.single_layer_variant(cmap, pool).build(initializers=initializers)
    assert_same(lesson, package)


def test_lesson_06_builds_the_latent_autoencoder():
    ns = lesson_namespace("06_latent_space.ipynb")
    package = models.latent_autoencoder(ns["latent_dim"])
    assert_same(ns["encoder"], package.get_layer("encoder"))
    assert_same(ns["decoder"], package.get_layer("decoder"))
    assert_same(ns["autoencoder"], package)


@pytest.mark.parametrize(
    "tied,saved",
    [
        (("deconv1", "deconv2"), 5 * 5 * 32 * 32 + 5 * 5 * 32 * 1),
        (("deconv1",), 5 * 5 * 32 * 1),
        (("deconv2",), 5 * 5 * 32 * 32),
    ],
    ids=str,
)
def test_lesson_07_ties_save_exactly_the_decoder_kernels(tied, saved):
    lasagne_autoencoder = lesson_namespace("07_tied_weights.ipynb")["lasagne_autoencoder"]
    untied, mixed = lasagne_autoencoder(tied=()), lasagne_autoencoder(tied=tied)
    # Untied: conv1, conv2, dense1, dense2, deconv2, deconv1 own their weights.
    assert untied.count_params() == (
        conv_params(5, 1, 32)
        + conv_params(5, 32, 32)
        + 512 * 256
        + 256
        + 256 * 512
        + 512
        + conv_params(5, 32, 32)
        + conv_params(5, 32, 1)
    )
    assert untied.count_params() - mixed.count_params() == saved
    for deconv, conv in (("deconv1", "conv1"), ("deconv2", "conv2")):
        layer = mixed.get_layer(deconv)
        assert isinstance(layer, TiedConv2DTranspose) == (deconv in tied)
        assert (layer.kernel is mixed.get_layer(conv).kernel) == (deconv in tied)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in mixed.layers[1:]}
    assert shapes["pool2"] == (4, 4, 32) and shapes["deconv2"] == (12, 12, 32)
    assert shapes["deconv1"] == (28, 28, 1)
    # Lasagne: dropout acts on the input of each dense layer.
    names = [layer.name for layer in mixed.layers]
    assert names[names.index("flatten") : names.index("reshape")] == [
        "flatten",
        "dropout1",
        "dense1",
        "dropout2",
        "dense2",
    ]


@pytest.mark.parametrize("unpooling", ["max", "upsample"])
def test_lesson_08_denoisers_have_the_same_weights_and_a_7x7x32_code(unpooling):
    denoiser = lesson_namespace("08_denoising_anomaly.ipynb")["denoiser"]
    model = denoiser(unpooling)
    assert model.get_layer("pool2").output.shape[1:] == (7, 7, 32)
    assert model.output.shape[1:] == (28, 28, 1)
    assert model.get_layer("deconv1").activation.__name__ == "sigmoid"
    # The unpooling layers own no weights: the two denoisers differ in nothing else.
    convs = [(1, 16), (16, 32), (32, 16), (16, 1)]  # conv1, conv2, deconv2, deconv1
    assert model.count_params() == sum(conv_params(3, a, b) for a, b in convs)


def test_lesson_08_positions_from_the_same_image_change_nothing():
    ns = lesson_namespace("08_denoising_anomaly.ipynb")
    model = ns["denoiser"]("max")
    rewired = ns["with_positions_from"](model)
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    other = np.random.default_rng(1).random((3, 28, 28, 1)).astype("float32")
    same = keras.ops.convert_to_numpy(rewired([x, x]))
    np.testing.assert_allclose(same, keras.ops.convert_to_numpy(model(x)), atol=1e-6)
    # Other positions: another output, from the same weights (shared, not copied).
    assert not np.allclose(keras.ops.convert_to_numpy(rewired([x, other])), same)
    assert rewired.count_params() == model.count_params()


def test_lesson_09_twin_is_the_vae_without_sampling_and_kl():
    ns = lesson_namespace("09_variational_autoencoder.ipynb")
    vae, twin = ns["vae"], ns["autoencoder"]
    assert vae.count_params() - twin.count_params() == conv_params(7, 64, 2)  # z_log_var
    assert [layer.name for layer in ns["ae_decoder"].layers] == [
        layer.name for layer in ns["vae_decoder"].layers
    ]
    assert twin.losses == [] and tuple(ns["ae_encoder"].output.shape) == (None, 1, 1, 2)
    assert [type(layer).__name__ for layer in vae.layers].count("VariationalSampling") == 1


@pytest.mark.parametrize("kind", models.SEGMENTATION_MODELS)
def test_lesson_10_builds_the_segment_command_s_models(kind):
    ns = lesson_namespace("10_segmentation.ipynb")
    assert_same(ns["segmentation_model"](kind), models.segmentation_model(kind))


@pytest.mark.parametrize("arm", ["scratch", "frozen", "fine-tuned"])
def test_lesson_11_builds_the_fewlabels_command_s_models(arm):
    ns = lesson_namespace("11_few_labels.ipynb")
    latent_dim = ns["latent_dim"]
    autoencoder = models.small_autoencoder(latent_dim)
    encoder = autoencoder.get_layer("encoder")
    lesson_encoder = ns["make_encoder"](latent_dim)
    assert_same(lesson_encoder, encoder)
    assert_same(ns["make_autoencoder"](lesson_encoder), autoencoder)
    ns["encoders"] = {"plain": lesson_encoder}
    lesson = ns["make_classifier"](arm, None if arm == "scratch" else "plain")
    package = models.classifier_on(
        models.small_encoder(latent_dim) if arm == "scratch" else encoder,
        trainable=arm != "frozen",
        name=arm.replace("-", "_"),
    )
    assert_same(lesson, package)
    # frozen: the head's kernel and bias are all that trains
    assert len(lesson.trainable_weights) == (2 if arm == "frozen" else 8)


WRITTEN_OUT = [
    "04_cntk_autoencoder.ipynb",
    "06_latent_space.ipynb",
    "07_tied_weights.ipynb",
    "08_denoising_anomaly.ipynb",
    "09_variational_autoencoder.ipynb",
    "10_segmentation.ipynb",
    "11_few_labels.ipynb",
]


@pytest.mark.parametrize("name", WRITTEN_OUT)
def test_the_lesson_shows_its_layers_compile_and_fit(name):
    import ast

    lesson = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = "\n".join(c.source for c in lesson.cells if c.cell_type == "code")
    calls = {
        ast.unparse(node.func) for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Call)
    }
    assert any(c.startswith("layers.") for c in calls), "no Keras layer written out"
    assert any(c.endswith(".compile") for c in calls) and any(c.endswith(".fit") for c in calls)
    assert "keras.utils.set_random_seed" in calls  # the lesson seeds, visibly
    if name.startswith("11"):
        assert "encoder.trainable = arm == 'fine-tuned'" in ast.unparse(ast.parse(code))
        assert "keras.callbacks.EarlyStopping" in calls
