"""Pictures return Figures with the panels and titles a student expects."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cae_keras import models, plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_cntk_figure_has_three_rows_of_five():
    rng = np.random.default_rng(0)
    images, recon = rng.random((8, 28, 28, 1)), rng.random((5, 28, 28, 1))
    fig = plots.cntk_figure(images, rng.random((5, 7, 7, 1)), recon)
    assert len(fig.axes) == 15
    assert fig.axes[0].get_ylabel() == "original" and "7x7" in fig.axes[5].get_ylabel()
    assert fig.axes[0].images[0].get_clim() == (0, 1)
    many = plots.cntk_figure(images, rng.random((5, 7, 7, 3)), recon)
    assert "channel 0" in many.axes[5].get_ylabel()


def test_comparison_uses_as_many_columns_as_reconstructions():
    rng = np.random.default_rng(1)
    fig = plots.comparison_figure(rng.random((9, 28, 28, 1)), {"a": rng.random((5, 28, 28, 1))})
    assert len(fig.axes) == 10
    assert fig._suptitle.get_text() == "Reconstructions by setting"


def test_encoding_text_rows_and_channels():
    code = np.arange(6, dtype=float).reshape(2, 3, 1) / 10
    assert plots.encoding_text(code, decimals=1) == "0.0 0.1 0.2\n0.3 0.4 0.5"
    two = plots.encoding_text(np.zeros((2, 2, 2)))
    assert two.count("# channel") == 2


def test_latent_scatter_2d_and_projection():
    rng = np.random.default_rng(2)
    labels = np.repeat([1, 5, 6], 20)
    fig = plots.latent_scatter(rng.normal(size=(60, 1, 1, 2)), labels, point=(0, 0))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "z[0]" and len(ax.collections) == 4  # 3 digits + point
    assert [t.get_text() for t in ax.get_legend().get_texts()][:3] == ["1", "5", "6"]
    fig = plots.latent_scatter(rng.normal(size=(60, 5)), labels)
    assert "principal components of 5-D codes" in fig.axes[0].get_title()


def test_manifold_and_decoded_point():
    encoder, decoder, _ = models.latent_autoencoder()
    fig = plots.latent_manifold(decoder, (-1, -1), (1, 1), n=3)
    assert fig.axes[0].images[0].get_array().shape == (84, 84)
    rng = np.random.default_rng(3)
    fig = plots.decoded_point(
        rng.normal(size=(30, 2)), np.repeat([1, 5, 6], 10), decoder, (0.5, 0.5)
    )
    assert "decoded from (0.50, 0.50)" in fig.axes[1].get_title()


def test_loss_curves_one_line_per_run():
    fig = plots.loss_curves({"a": {"loss": [3, 2, 1]}, "b": {"loss": [2, 1]}})
    assert len(fig.axes[0].lines) == 2 and fig.axes[0].get_xlabel() == "epoch"
