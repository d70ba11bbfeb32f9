"""One architecture, never two that drift: each lesson writes its model out
in Keras layers for a student to read, and the commands build the same model
from the package. These tests run a lesson's own cells (its imports, its
parameters and the cells tagged `model`) and compare what they build with
the package's model: layer by layer, type, name, config, output shape and
parameter count."""

import keras
import nbformat
import pytest

from cae_keras import models, reproduce
from tests.lesson_runs import NOTEBOOKS


def lesson_namespace(name):
    """What a lesson's import, parameter and model cells define, run in order."""
    lesson = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in lesson.cells if c.cell_type == "code"]
    imports = next(c for c in code if "from cae_keras" in c.source)
    chosen = [imports] + [
        c for c in code if {"parameters", "model"} & set(c.metadata.get("tags", []))
    ]
    assert any("model" in c.metadata.get("tags", []) for c in chosen), f"{name}: no model cell"
    namespace = {}
    for cell in chosen:
        exec(compile(cell.source, f"{name}:cell", "exec"), namespace)
    return namespace


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
    encoder, decoder, autoencoder = models.latent_autoencoder(ns["latent_dim"])
    assert_same(ns["encoder"], encoder)
    assert_same(ns["decoder"], decoder)
    assert_same(ns["autoencoder"], autoencoder)


@pytest.mark.parametrize("tied", [("deconv1", "deconv2"), (), ("deconv1",), ("deconv2",)], ids=str)
def test_lesson_07_builds_the_tied_autoencoder(tied):
    ns = lesson_namespace("07_tied_weights.ipynb")
    lesson = ns["lasagne_autoencoder"](tied=tied, dropout=ns["dropout"])
    package = models.tied_autoencoder(tied=list(tied), dropout=ns["dropout"])
    assert_same(lesson, package)
    for name in tied:  # the tie itself: one variable, the encoder's
        source = {"deconv1": "conv1", "deconv2": "conv2"}[name]
        assert lesson.get_layer(name).kernel is lesson.get_layer(source).kernel


@pytest.mark.parametrize("unpooling", ["max", "upsample"])
def test_lesson_08_builds_the_denoising_autoencoder(unpooling):
    ns = lesson_namespace("08_denoising_anomaly.ipynb")
    assert_same(ns["denoiser"](unpooling), models.denoising_autoencoder(unpooling=unpooling))


def test_lesson_09_builds_the_vae_and_its_twin():
    ns = lesson_namespace("09_variational_autoencoder.ipynb")
    encoder, decoder, vae = models.variational_autoencoder(2, beta=ns["beta"], seed=ns["seed"])
    assert_same(ns["vae_encoder"], encoder)
    assert_same(ns["vae_decoder"], decoder)
    assert_same(ns["vae"], vae)
    encoder, decoder, twin = models.variational_twin(2)
    assert_same(ns["ae_encoder"], encoder)
    assert_same(ns["autoencoder"], twin)


@pytest.mark.parametrize("kind", models.SEGMENTATION_MODELS)
def test_lesson_10_builds_the_segment_command_s_models(kind):
    ns = lesson_namespace("10_segmentation.ipynb")
    assert_same(ns["segmentation_model"](kind), models.segmentation_model(kind))


@pytest.mark.parametrize("arm", ["scratch", "frozen", "fine-tuned"])
def test_lesson_11_builds_the_fewlabels_command_s_models(arm):
    ns = lesson_namespace("11_few_labels.ipynb")
    code_size = ns["code_size"]
    encoder, _, autoencoder = models.small_autoencoder(code_size)
    lesson_encoder = ns["make_encoder"](code_size)
    assert_same(lesson_encoder, encoder)
    assert_same(ns["make_autoencoder"](lesson_encoder), autoencoder)
    ns["encoders"] = {"plain": lesson_encoder}
    lesson = ns["make_classifier"](arm, None if arm == "scratch" else "plain")
    package = models.classifier_on(
        models.small_encoder(code_size) if arm == "scratch" else encoder,
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
