"""Pictures return Figures with the panels and titles a student expects."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cae_keras import models, plots  # noqa: E402
from cae_keras.training import LossCurve  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_cntk_figure_has_three_rows_of_five():
    rng = np.random.default_rng(0)
    images, recon = rng.random((8, 28, 28, 1)), rng.random((5, 28, 28, 1))
    fig = plots.cntk_figure(images, rng.random((5, 7, 7, 1)), recon)
    assert len(fig.axes) == 15
    assert fig.axes[0].get_ylabel() == "original" and fig.axes[5].get_ylabel() == "code 7x7x1"
    assert fig.axes[0].images[0].get_clim() == (0, 1)
    many = plots.cntk_figure(images, rng.random((5, 14, 14, 3)), recon)
    assert many.axes[5].get_ylabel() == "code 14x14x3\n(channel 0)"


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
    decoder = models.latent_autoencoder().get_layer("decoder")
    fig = plots.latent_manifold(decoder, (-1, -1), (1, 1), n=3)
    assert fig.axes[0].images[0].get_array().shape == (84, 84)
    rng = np.random.default_rng(3)
    fig = plots.decoded_point(
        rng.normal(size=(30, 2)), np.repeat([1, 5, 6], 10), decoder, (0.5, 0.5)
    )
    assert "decoded from (0.50, 0.50)" in fig.axes[1].get_title()
    assert fig.axes[1].images[0].get_clim() == (0, 1)  # same scale as every other image


def test_loss_curves_one_line_per_run():
    fig = plots.loss_curves({"a": {"loss": [3, 2, 1]}, "b": {"loss": [2, 1]}})
    assert len(fig.axes[0].lines) == 2 and fig.axes[0].get_xlabel() == "epoch"


def test_loss_curves_of_one_epoch_have_many_points_whole_ticks_and_a_clear_legend():
    curve = LossCurve()
    curve.epochs, curve.losses = [i / 10 for i in range(1, 11)], list(np.linspace(1, 0.5, 10))
    curve.val_epochs, curve.val_losses = [1], [0.55]
    fig = plots.loss_curves({"tied": curve, "untied": {"loss": [0.6], "val_loss": [0.7]}})
    ax = fig.axes[0]
    train, val, untied_train, untied_val = ax.lines
    assert len(train.get_xdata()) == 10 and list(val.get_xdata()) == [1]
    assert train.get_color() == val.get_color() and val.get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "tied, training",
        "tied, validation",
        "untied, training",
        "untied, validation",
    ]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks == [0, 1]  # whole epochs only
    # The legend is outside the axes: no curve is hidden under it.
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1


def test_matrix_numbers_grow_with_the_cells():
    fig = plots.matrix_figure([np.ones((14, 14))], ["m"])
    assert fig.get_size_inches()[0] > 4.5
    assert fig.axes[0].texts[0].get_fontsize() >= 10


def test_at_true_size_centres_the_image_on_a_blank_canvas():
    canvas = plots.at_true_size(np.ones((14, 14, 1)), 28)
    assert canvas.shape == (28, 28) and np.isnan(canvas).sum() == 28 * 28 - 14 * 14
    assert np.all(canvas[7:21, 7:21] == 1)
    with pytest.raises(ValueError, match="`image`"):
        plots.at_true_size(np.ones((30, 30)), 28)


def test_per_epoch_curves_start_at_their_first_epoch_and_draw_baselines():
    fig = plots.loss_curves({"a": {"loss": [3, 2, 1]}}, baselines={"all-black output": 2.5})
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert 0.8 < low < 1 and 3 < high < 3.2  # nothing empty at x = 0
    (baseline,) = [line for line in ax.lines if line.get_label() == "all-black output"]
    assert list(baseline.get_ydata()) == [2.5, 2.5]


def test_cntk_figure_carries_its_title():
    rng = np.random.default_rng(0)
    fig = plots.cntk_figure(
        rng.random((5, 28, 28, 1)),
        rng.random((5, 7, 7, 1)),
        rng.random((5, 28, 28, 1)),
        title="cmap1_pool4, ours recipe",
    )
    assert fig._suptitle.get_text() == "cmap1_pool4, ours recipe"
