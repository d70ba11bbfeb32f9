"""Lesson 10's task: digit scenes, segmentation scores, the three decoders, the
`segment` command and its saved models."""

import json

import keras
import numpy as np
import pytest

from cae_keras import cli, data, metrics, models, publish, segment, training

RNG = np.random.default_rng(0)


def digits(m=12, seed=0):
    """Digit-like images: random strokes with intensities on both sides of 0.5."""
    rng = np.random.default_rng(seed)
    x = np.zeros((m, 28, 28), "float32")
    for i in range(m):
        r, c = rng.integers(4, 20, 2)
        x[i, r : r + 6, c : c + 4] = rng.choice([0.3, 0.5, 0.7, 1.0], (6, 4))
    return x, rng.integers(0, 10, m)


def slow_scenes(images, labels, n, size, low, high, seed):
    """The label rule written as loops, one digit and one pixel at a time,
    drawing the same random numbers in the same order."""
    rows, cols = size
    rng = np.random.default_rng(seed)
    count = rng.integers(low, high + 1, n)
    chosen = rng.integers(0, len(images), (n, high))
    top = rng.integers(0, rows - 27, (n, high))
    left = rng.integers(0, cols - 27, (n, high))
    scenes = np.zeros((n, rows, cols, 1), "float32")
    masks = np.zeros((n, rows, cols), "uint8")
    for i in range(n):
        brightest = np.zeros((rows, cols))
        owner = np.zeros((rows, cols), int)
        for slot in range(count[i]):
            image, digit = images[chosen[i, slot]], labels[chosen[i, slot]]
            for a in range(28):
                for b in range(28):
                    r, c = top[i, slot] + a, left[i, slot] + b
                    if image[a, b] > brightest[r, c]:  # ties stay with the earlier digit
                        brightest[r, c], owner[r, c] = image[a, b], digit + 1
        scenes[i, :, :, 0] = brightest
        masks[i] = np.where(brightest >= 0.5, owner, 0)
    return scenes, masks


@pytest.mark.parametrize("size,low,high", [((28, 28), 1, 1), ((40, 53), 1, 3), ((33, 30), 2, 4)])
def test_scenes_follow_the_label_rule_as_the_slow_reference_does(size, low, high):
    images, labels = digits()
    scenes, masks = data.digit_scenes(images, labels, 9, size, (low, high), seed=3)
    want_scenes, want_masks = slow_scenes(images, labels, 9, size, low, high, seed=3)
    np.testing.assert_array_equal(scenes, want_scenes)
    np.testing.assert_array_equal(masks, want_masks)
    assert scenes.dtype == np.float32 and masks.dtype == np.uint8
    # The rule, checked directly: background below 0.5, a digit's class at or above.
    assert np.all((masks > 0) == (scenes[..., 0] >= 0.5))


def test_scenes_are_deterministic_and_use_only_the_images_given():
    images, labels = digits()
    a = data.digit_scenes(images, labels, 5, 40, seed=1)
    b = data.digit_scenes(images, labels, 5, 40, seed=1)
    c = data.digit_scenes(images, labels, 5, 40, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert set(np.unique(a[1])) <= {0, *(labels + 1)}


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"size": 20}, "`size` must be an integer or a pair"),
        ({"digits": (3, 1)}, "`digits` must be a range"),
        ({"digits": 0}, "`digits` must be an integer or a pair"),
        ({"n": -1}, "`n`"),
        ({"seed": -1}, "`seed`"),
    ],
)
def test_scene_arguments_are_checked(kwargs, message):
    images, labels = digits()
    with pytest.raises(ValueError, match=message):
        data.digit_scenes(images, labels, **{"n": 2, **kwargs})


def test_scene_images_must_be_digits_in_0_1_with_their_labels():
    images, labels = digits()
    with pytest.raises(ValueError, match="pixels in 0-1"):
        data.digit_scenes(images * 255, labels, 2)
    with pytest.raises(ValueError, match="one integer digit per image"):
        data.digit_scenes(images, labels[:-1], 2)
    with pytest.raises(ValueError, match="MNIST digits"):
        data.digit_scenes(images[:, :20], labels, 2)


def test_iou_mean_and_accuracy_by_hand():
    true = np.array([[[0, 0, 1, 1], [0, 2, 2, 1]]])
    pred = np.array([[[0, 1, 1, 1], [0, 2, 0, 1]]])
    scores = metrics.segmentation_scores(true, pred, classes=4)
    # bg: hits 2, union 4 -> 0.5; class 1: hits 3, union 4 -> 0.75; class 2: 1/2; class 3 absent.
    assert scores["iou"] == [0.5, 0.75, 0.5, None]
    assert scores["miou"] == pytest.approx((0.5 + 0.75 + 0.5) / 3)
    assert scores["pixel_accuracy"] == pytest.approx(6 / 8)
    band = np.zeros_like(true, bool)
    band[0, 0, 2] = True
    assert metrics.segmentation_scores(true, pred, 4, band)["iou"] == [None, 1.0, None, None]
    with pytest.raises(ValueError, match="`true` and `predicted` must have the same shape"):
        metrics.segmentation_scores(true, pred[:, :1], 4)
    with pytest.raises(ValueError, match="classes 0..3"):
        metrics.segmentation_scores(true, pred + 3, 4)


def test_boundary_band_is_the_square_neighbourhood_of_the_edges():
    masks = np.zeros((1, 9, 9), int)
    masks[0, 4, 4] = 1
    # Edge pixels: the centre and its four neighbours; width 1 adds their 3x3 squares.
    want = np.zeros((9, 9), bool)
    for r, c in [(4, 4), (3, 4), (5, 4), (4, 3), (4, 5)]:
        want[r - 1 : r + 2, c - 1 : c + 2] = True
    np.testing.assert_array_equal(metrics.boundary_band(masks, 1)[0], want)
    assert metrics.boundary_band(masks, 0).sum() == 5
    assert not metrics.boundary_band(np.zeros((1, 5, 5), int), 3).any()


@pytest.mark.parametrize("kind", models.SEGMENTATION_MODELS)
def test_every_decoder_segments_any_size_odd_ones_included(kind):
    model = models.segmentation_model(kind)
    for size in [(48, 48), (61, 83), (29, 31), (96, 128)]:
        out = model.predict(np.zeros((2, *size, 1), "float32"), verbose=0)
        assert out.shape == (2, *size, 11)
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)
    names = [layer.name for layer in model.layers]
    assert "enc3_pool" in names and "classes" in names
    assert ("dec1_unpool" in names) == (kind == "segnet")
    assert ("dec1_concat" in names) == (kind == "unet")


def test_the_twins_have_the_same_weights_and_unet_a_comparable_count():
    counts = {k: models.segmentation_model(k).count_params() for k in models.SEGMENTATION_MODELS}
    assert counts["segnet"] == counts["upsample"]
    assert 1.0 < counts["unet"] / counts["segnet"] < 1.5


def test_unpooling_passes_positions_and_unet_whole_maps():
    passed = {
        kind: segment.passed_bytes(models.segmentation_model(kind), (48, 48))
        for kind in models.SEGMENTATION_KINDS
    }
    # One byte per pooled value: 24x24x16 + 12x12x32 + 6x6x64 values.
    assert passed["segnet"] == 24 * 24 * 16 + 12 * 12 * 32 + 6 * 6 * 64
    # Whole float32 maps: 48x48x16 + 24x24x32 + 12x12x64.
    whole = (48 * 48 * 16 + 24 * 24 * 32 + 12 * 12 * 64) * 4
    assert passed["unet"] == passed["segnet_pool_input"] == whole
    assert passed["upsample"] == 0


def test_segnet_keeps_positions_not_pooling_inputs():
    model = models.segmentation_model("segnet")
    for level in (1, 2, 3):
        unpool = model.get_layer(f"dec{level}_unpool")
        pooled, positions, like = unpool._inbound_nodes[0].input_tensors
        assert keras.backend.standardize_dtype(positions.dtype) == "uint8"
        assert positions._keras_history.operation.name == f"enc{level}_pool"
        assert like._keras_history.operation.name == f"enc{level}_conv2_relu"


@pytest.mark.parametrize("kind", models.SEGMENTATION_MODELS)
@pytest.mark.parametrize("size", [(28, 28), (61, 83), (33, 29), (96, 128)])
def test_each_decoder_level_returns_to_its_pooling_input_size(kind, size):
    steps = dict(segment.decoder_sizes(kind, size))
    # SAME pooling: ceil(n / 2) per level, so level k returns to ceil(n / 2 ** (k - 1)).
    for level in (1, 2, 3):
        expected = tuple(-(-n // 2 ** (level - 1)) for n in size)
        if kind == "segnet":
            assert steps[f"dec{level}_unpool"] == expected
        else:
            assert steps[f"dec{level}_upsample"] == tuple(2 * -(-n // 2**level) for n in size)
            assert steps[f"dec{level}_crop"] == expected


@pytest.mark.parametrize("size", [(96, 128), (32, 32), (61, 83)])
def test_unet_takes_16_times_what_segnet_takes_where_the_size_divides_by_8(size):
    passed = {r["model"]: r["bytes"] for r in segment.decoder_rows(size)}
    rows, cols = size
    # One byte per pooled value, level k pooled to ceil(n / 2**k) with 8 * 2**k channels.
    values = sum(
        -(-rows // 2**level) * -(-cols // 2**level) * 2 ** (3 + level) for level in (1, 2, 3)
    )
    assert passed["segnet"] == values
    # 4 bytes per value of the whole map: four times the values, at four times the bytes.
    maps = sum(
        -(-rows // 2**level) * -(-cols // 2**level) * 2 ** (4 + level) for level in (0, 1, 2)
    )
    assert passed["unet"] == maps * 4 == passed["segnet_pool_input"]
    if rows % 8 == 0 and cols % 8 == 0:
        assert passed["unet"] == 16 * passed["segnet"]
    assert passed["upsample"] == 0


def test_the_decoders_table_prints_the_bytes():
    table = segment.decoders_table((96, 128))
    assert "86,016" in table and "1,376,256" in table


def test_the_docs_bytes_table_is_the_one_the_models_give():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "segmentation.md").read_text()
    block = text.split("<!-- decoders-table 48x48 -->\n```\n")[1].split("\n```")[0]
    assert block == segment.decoders_table((48, 48))


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"digits": (3, 1)}, "`digits` must be a range"),
        ({"digits": 0}, "`digits` must be an integer or a pair"),
        ({"balance": 1.5}, "`balance` must be a number from 0 to 1"),
        ({"balance": -0.1}, "`balance` must be a finite number >= 0"),
        ({"decay": "yes"}, "`decay` must be True or False"),
        ({"widths": 16, "models": "segnet", "batch_size": 0}, "`batch_size` must be a positive"),
    ],
)
def test_segment_settings_are_checked_before_any_work(settings, message):
    with pytest.raises(ValueError, match=message):
        segment.check_settings(settings)


@pytest.fixture(scope="module")
def segment_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("segment") / "out"
    argv = ["segment", "--models", "segnet", "upsample", "--seeds", "0", "--epochs", "1"]
    argv += ["--scenes", "64", "--test-scenes", "4", "--size", "32"]
    argv += ["--eval-sizes", "32", "61x83", "--limit", "500", "--out", str(out)]
    argv += ["--digits", "1", "2", "--balance", "0.5", "--decay", "--learning-rate", "0.005"]
    assert cli.main(argv) == 0
    return out


def test_segment_command_publishes_table_figures_and_models(segment_run):
    results = json.loads((segment_run / "results.json").read_text())
    folder = publish.latest(segment_run)
    assert {"table.txt", "masks.png", "iou.png", "segnet_seed0.keras"} <= set(results["files"])
    assert [r["model"] for r in results["summary"]] == ["segnet", "upsample"]
    run = results["runs"][0]
    assert set(run["scores"]) == {"32x32", "61x83"}
    assert 0.0 <= run["scores"]["61x83"]["miou"] <= 1.0
    assert "mIoU 61x83" in (folder / "table.txt").read_text()
    settings = results["settings"]
    assert settings["digits"] == [1, 2] and settings["balance"] == 0.5 and settings["decay"]
    assert settings["learning_rate"] == 0.005


def test_a_saved_segnet_loads_and_predicts_the_same_on_an_odd_size(segment_run):
    folder = publish.latest(segment_run)
    model = keras.saving.load_model(folder / "segnet_seed0.keras")
    scenes = RNG.random((2, 61, 83, 1)).astype("float32")
    again = keras.saving.load_model(folder / "segnet_seed0.keras")
    np.testing.assert_array_equal(
        model.predict(scenes, verbose=0), again.predict(scenes, verbose=0)
    )
    assert model.get_layer("dec1_unpool").__class__.__name__ == "MaxUnpooling2D"


@pytest.mark.parametrize("step", ["rename scratch", "switch"])
def test_a_fault_while_publishing_keeps_the_previous_run(segment_run, monkeypatch, step):
    def snapshot():
        return {
            str(p.relative_to(segment_run)): p.read_bytes()
            for p in segment_run.rglob("*")
            if p.is_file()
        }

    before = snapshot()

    def full_disk(name):
        if name == step:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish, "_checkpoint", full_disk)
    argv = ["segment", "--models", "upsample", "--seeds", "1", "--epochs", "1", "--scenes", "16"]
    argv += ["--test-scenes", "2", "--size", "32", "--eval-sizes", "32", "--limit", "200"]
    with pytest.raises(SystemExit, match="error: --out: cannot write results: .*space"):
        cli.main([*argv, "--out", str(segment_run)])
    assert snapshot() == before


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--size", "20"], "--size: expected ROWS or ROWSxCOLS"),
        (["--eval-sizes", "48", "48x48"], "--eval-sizes: "),
        (["--models", "segnet", "segnet"], "--models: "),
        (["--seeds", "1", "1"], "--seeds: "),
        (["--devices", "zero"], "--devices: expected a positive integer or 'all'"),
        (["--devices", "2"], "--devices:"),
        (["--digits", "3", "1"], "--digits: "),
        (["--balance", "2"], "--balance: expected a number from 0 to 1, got '2'"),
        (["--learning-rate", "0"], "--learning-rate: expected a finite number above 0"),
        (["--batch-size", "0"], "--batch-size: expected an integer from 1"),
    ],
)
def test_segment_refuses_bad_arguments_before_any_work(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["segment", *argv, "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# -- export for inference, on the trained SegNet (TensorFlow) ----------------------

tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="exports through TensorFlow (see docs/segmentation.md for other backends)",
)
SAVED_MODEL_CHILD = """
import sys, numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])  # held: `.serve` needs the object alive
x = np.load(sys.argv[2])
np.save(sys.argv[3], loaded.serve(x).numpy())
"""


@pytest.fixture
def trained_segnet(segment_run):
    # Loaded afresh for each test, so that none depends on what another ran.
    return keras.saving.load_model(publish.latest(segment_run) / "segnet_seed0.keras")


@tensorflow_only
def test_saved_model_reloads_in_a_fresh_process_with_equal_predictions(trained_segnet, tmp_path):
    import subprocess
    import sys

    scenes = RNG.random((3, 61, 83, 1)).astype("float32")
    trained_segnet.export(tmp_path / "saved", verbose=False)
    np.save(tmp_path / "x.npy", scenes)
    subprocess.run(
        [
            sys.executable,
            "-c",
            SAVED_MODEL_CHILD,
            tmp_path / "saved",
            tmp_path / "x.npy",
            tmp_path / "y.npy",
        ],
        check=True,
        capture_output=True,
    )
    # The model called as the SavedModel serves it (plain ops, no XLA): equal
    # to the bit. (`predict` would run the XLA-compiled step it was trained
    # with, whose fused arithmetic rounds differently, by about 1e-8.)
    np.testing.assert_array_equal(
        np.load(tmp_path / "y.npy"),
        keras.ops.convert_to_numpy(trained_segnet(scenes, training=False)),
    )


@tensorflow_only
def test_litert_at_a_fixed_size_predicts_within_1e_5(trained_segnet, tmp_path):
    import tensorflow as tf

    from cae_keras import kernels

    scenes = RNG.random((2, 61, 83, 1)).astype("float32")
    path = tmp_path / "segnet.tflite"
    with kernels.portable():  # LiteRT runs ops of at most five dimensions
        trained_segnet.export(
            path,
            format="litert",
            verbose=False,
            input_signature=[keras.InputSpec(shape=scenes.shape, dtype="float32")],
            # Builtin kernels only: no Flex (SELECT_TF_OPS) delegate needed to run it.
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]},
        )
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], scenes)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, trained_segnet.predict(scenes, verbose=0), atol=1e-5)


@tensorflow_only
def test_onnx_runs_any_size_in_onnxruntime_within_1e_5(trained_segnet, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime", reason="pip install cae-keras[onnx]")
    pytest.importorskip("tf2onnx", reason="pip install cae-keras[onnx]")
    from cae_keras import kernels

    path = tmp_path / "segnet.onnx"
    # Keras exports to ONNX only a model that has run once, as a trained one has in its session.
    trained_segnet.predict(np.zeros((1, 32, 32, 1), "float32"), verbose=0)
    with kernels.portable():  # tf2onnx cannot inline the XLA-compiled kernel
        trained_segnet.export(path, format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(path))
    name = session.get_inputs()[0].name
    for shape in [(2, 61, 83, 1), (1, 96, 128, 1)]:
        scenes = RNG.random(shape).astype("float32")
        got = session.run(None, {name: scenes})[0]
        np.testing.assert_allclose(got, trained_segnet.predict(scenes, verbose=0), atol=1e-5)


def test_portable_kernels_give_the_same_values_as_the_fast_ones():
    from cae_keras import kernels
    from cae_keras.layers import MaxPoolingWithPositions2D, MaxUnpooling2D

    x = RNG.random((2, 9, 7, 3)).astype("float32")
    for padding in ("valid", "same"):
        layer = MaxUnpooling2D(2, padding=padding)
        rows = 4 if padding == "valid" else 5
        pooled = RNG.random((2, rows, 3 if padding == "valid" else 4, 3)).astype("float32")
        pool = MaxPoolingWithPositions2D(2, padding=padding)
        fast = [keras.ops.convert_to_numpy(t) for t in (layer([pooled, x]), pool(x)[1])]
        fast.append(keras.ops.convert_to_numpy(layer([pooled, fast[1], x])))
        with kernels.portable():
            plain = [keras.ops.convert_to_numpy(t) for t in (layer([pooled, x]), pool(x)[1])]
            plain.append(keras.ops.convert_to_numpy(layer([pooled, plain[1], x])))
        for a, b in zip(plain, fast):
            np.testing.assert_array_equal(a, b)
        # A trace inside `portable()` leaves the fast kernels as they were.
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(pool(x)[1]), fast[1])


# -- class balancing ------------------------------------------------------------------


def test_balanced_weights_by_hand_and_segnets_rule():
    masks = np.array([0, 0, 0, 1])
    # Frequencies 3/4 and 1/4, median 1/2: weights 2/3 and 2, whose pixel mean is 1.
    np.testing.assert_allclose(training.balanced_class_weights(masks, 2, 1.0), [2 / 3, 2.0])
    np.testing.assert_allclose(training.balanced_class_weights(masks, 2, 0.0), [1.0, 1.0])
    # A class with no pixels gets 0, and does not move the median.
    np.testing.assert_allclose(
        training.balanced_class_weights(np.array([0, 0, 0, 1]), 3, 1.0), [2 / 3, 2.0, 0.0]
    )


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0])
def test_balanced_weights_keep_the_mean_pixel_at_1_and_favour_rare_classes(power):
    masks = RNG.choice(11, size=(20, 16, 16), p=[0.8] + [0.02] * 10)
    weights = training.balanced_class_weights(masks, 11, power)
    assert weights[masks].mean() == pytest.approx(1.0, rel=1e-5)
    frequency = np.bincount(masks.ravel(), minlength=11)
    rarer = np.argsort(frequency)
    assert np.all(np.diff(weights[rarer]) <= 1e-6)  # the rarer, the heavier (or equal)


@pytest.mark.parametrize(
    "masks,power,message",
    [
        (np.array([0.0, 1.0]), 0.5, "`masks` must be non-empty integer labels"),
        (np.array([0, 11]), 0.5, "`masks` must hold classes 0..10"),
        (np.array([0, 1]), 1.5, "`power` must be a number from 0 to 1"),
    ],
)
def test_balanced_weights_refuse_bad_arguments(masks, power, message):
    with pytest.raises(ValueError, match=message):
        training.balanced_class_weights(masks, 11, power)


def test_class_weights_multiply_each_pixels_loss_by_its_true_class_weight():
    (x, y), _ = data.load_mnist(limit=50)
    scenes, masks = data.digit_scenes(x, y, 8, 32, seed=3)
    weights = training.balanced_class_weights(masks, data.SCENE_CLASSES, 0.7)
    assert len(set(weights[np.unique(masks)].round(4))) > 2  # the weights differ
    seen = {}

    class FirstLoss(keras.callbacks.Callback):
        # The loss of the first (and only) step is computed with the initial
        # weights; so are these probabilities (batch statistics, as in training).
        def on_train_begin(self, logs=None):
            p = keras.ops.convert_to_numpy(self.model(scenes, training=True))
            true = np.take_along_axis(p, masks[..., None].astype(int), axis=-1)[..., 0]
            seen["expected"] = float(np.mean(-np.log(true) * weights[masks]))

    record, _ = segment._run_model(
        "segnet", (scenes, masks), {}, epochs=1, batch_size=8, balance=0.7, callbacks=[FirstLoss()]
    )
    assert record["final_loss"] == pytest.approx(seen["expected"], rel=1e-4)
