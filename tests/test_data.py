"""load_mnist: every place it looks, every check it makes, every bad input."""

import hashlib
import zipfile

import numpy as np
import pytest

from cae_keras import data

README_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture
def no_defaults(monkeypatch, tmp_path):
    """No env var, no repository copy, an empty Keras cache, and no download."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "REPO_FILE", tmp_path / "repo" / "mnist.npz")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))

    def refuse():
        raise AssertionError("download attempted")

    monkeypatch.setattr(data, "_keras_download", refuse)
    return tmp_path


def small_npz(path, n_train=20, n_test=10, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
        "y_train": np.tile(np.arange(10, dtype=np.uint8), 6000),
        "x_test": rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8),
        "y_test": np.tile(np.arange(10, dtype=np.uint8), 1000),
    }
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def test_repository_file_matches_its_readme():
    digest = hashlib.sha256(data.REPO_FILE.read_bytes()).hexdigest()
    assert digest == README_SHA256


def test_full_mnist_from_the_repository(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    (x_train, y_train), (x_test, y_test) = data.load_mnist(download=False)
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert np.bincount(y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == TEST_COUNTS
    assert y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert abs(float(x_train.mean()) * 255 - 33.318) < 1e-3


def test_digits_limit_and_scale(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    (x_train, y_train), (x_test, y_test) = data.load_mnist(digits=[6, 1, 5], limit=500, scale=256.0)
    assert set(y_train.tolist()) == {1, 5, 6} and set(y_test.tolist()) == {1, 5, 6}
    assert len(x_train) == len(x_test) == 500
    assert x_train.max() == 255 / 256
    # Deterministic: the first matching images, in the file's order.
    (again, _), _ = data.load_mnist(digits=[1, 5, 6], limit=500, scale=256.0)
    np.testing.assert_array_equal(x_train, again)
    (all_156, y_all), _ = data.load_mnist(digits=[1, 5, 6])
    assert len(all_156) == 6742 + 5421 + 5918
    np.testing.assert_array_equal(y_all[:500], y_train)


def test_single_digit(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    (_, _), (_, y_test) = data.load_mnist(digits=3)
    assert set(y_test.tolist()) == {3}


def test_explicit_path_wins(no_defaults):
    path = small_npz(no_defaults / "mine.npz")
    (_, y_train), _ = data.load_mnist(path, limit=10)
    assert y_train.tolist() == list(range(10))


def test_environment_variable(no_defaults, monkeypatch):
    path = small_npz(no_defaults / "env.npz")
    monkeypatch.setenv(data.ENV_VAR, str(path))
    assert data.find_mnist()[0] == path
    data.load_mnist(limit=1)


def test_repository_copy_before_keras_cache(no_defaults):
    repo = small_npz(data.REPO_FILE)
    small_npz(data.keras_cache_file())
    assert data.find_mnist()[0] == repo


def test_keras_cache(no_defaults):
    cache = small_npz(data.keras_cache_file())
    found, tried = data.find_mnist()
    assert found == cache and tried == [data.REPO_FILE, cache]
    data.load_mnist(limit=1)


def test_download_only_without_any_local_file(no_defaults, monkeypatch):
    calls = []

    def fake_download():
        calls.append(1)
        arrays = dict(np.load(small_npz(no_defaults / "dl.npz")))
        return arrays

    monkeypatch.setattr(data, "_keras_download", fake_download)
    (x_train, _), _ = data.load_mnist(limit=3)
    assert calls == [1] and x_train.shape == (3, 28, 28, 1)
    small_npz(data.keras_cache_file())
    data.load_mnist(limit=3)
    assert calls == [1]  # a local file now exists: no second download


def test_nothing_found_and_no_download_lists_paths(no_defaults):
    with pytest.raises(FileNotFoundError) as error:
        data.load_mnist(download=False)
    text = str(error.value)
    assert str(data.REPO_FILE) in text and str(data.keras_cache_file()) in text


def test_missing_explicit_path(no_defaults):
    with pytest.raises(FileNotFoundError, match="`path`: no MNIST file at"):
        data.load_mnist(no_defaults / "nope.npz")


def test_environment_variable_to_missing_file(no_defaults, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(no_defaults / "gone.npz"))
    with pytest.raises(FileNotFoundError, match=data.ENV_VAR):
        data.load_mnist()


def test_corrupt_file(no_defaults):
    good = small_npz(no_defaults / "good.npz")
    bad = no_defaults / "truncated.npz"
    bad.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(data.MnistFileError, match="truncated.npz.*truncated or corrupt"):
        data.load_mnist(bad)
    junk = no_defaults / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(data.MnistFileError, match="junk.npz"):
        data.load_mnist(junk)


def test_pickled_arrays_are_refused(no_defaults):
    path = no_defaults / "pickled.npz"
    arrays = dict(np.load(small_npz(no_defaults / "base.npz")))
    arrays["x_train"] = np.array([object()] * 3, dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(data.MnistFileError, match="pickled.npz"):
        data.load_mnist(path)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"y_test": None}, r"lacks the arrays \['y_test'\]"),
        (
            {"x_train": np.zeros((60000, 28, 27), np.uint8)},
            "'x_train' should be uint8 with shape",
        ),
        ({"x_test": np.zeros((10000, 28, 28), np.float32)}, "'x_test' should be uint8"),
        (
            {"y_train": np.full(60000, 10, np.uint8)},
            r"'y_train' should hold values 0..9",
        ),
    ],
)
def test_wrong_arrays(no_defaults, overrides, message):
    path = small_npz(no_defaults / "wrong.npz", **overrides)
    with pytest.raises(data.MnistFileError, match=message):
        data.load_mnist(path)


@pytest.mark.parametrize("digits", [[10], [-1], [], [1, 2.5], ["3"], [True], "abc", 11])
def test_bad_digits(digits):
    with pytest.raises(ValueError, match="`digits`"):
        data.load_mnist(digits=digits)


@pytest.mark.parametrize("limit", [0, -1, 2.5, "10", True])
def test_bad_limit(limit):
    with pytest.raises(ValueError, match="`limit`"):
        data.load_mnist(limit=limit)


@pytest.mark.parametrize("scale", [0, -1.0, "255"])
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="`scale`"):
        data.load_mnist(scale=scale)


def test_npz_is_a_zip():
    assert zipfile.is_zipfile(data.REPO_FILE)


def test_split_validation_is_a_seeded_partition():
    x = np.arange(100, dtype="float32").reshape(100, 1, 1, 1)
    y = np.arange(100) % 10
    (x_train, y_train), (x_val, y_val) = data.split_validation(x, y, size=0.2, seed=3)
    assert len(x_val) == 20 and len(x_train) == 80
    together = np.sort(np.concatenate([x_train, x_val]).ravel())
    np.testing.assert_array_equal(together, x.ravel())  # every image once, none in both
    np.testing.assert_array_equal(y_val, x_val.ravel().astype(int) % 10)  # labels follow images
    assert np.all(np.diff(x_train.ravel()) > 0)  # original order kept
    (_, _), (again, _) = data.split_validation(x, y, size=0.2, seed=3)
    np.testing.assert_array_equal(again, x_val)
    (_, _), (other, _) = data.split_validation(x, y, size=0.2, seed=4)
    assert not np.array_equal(other, x_val)
    (_, _), (fixed, _) = data.split_validation(x, y, size=7)
    assert len(fixed) == 7


@pytest.mark.parametrize("size", [0.0, 1.0, 0, 100, -3, "0.1", True, 0.001])
def test_split_validation_refuses_sizes_that_empty_a_part(size):
    x, y = np.zeros((100, 1, 1, 1)), np.zeros(100)
    with pytest.raises(ValueError, match="`size`"):
        data.split_validation(x, y, size=size)
