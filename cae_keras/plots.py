"""Pictures for the lessons. Each function returns a matplotlib `Figure` and
leaves showing and saving to the caller (`plt.show()`, `fig.savefig(...)`)."""

import numbers

import matplotlib
import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np

from cae_keras import checks


def _same_length(name_a, a, name_b, b):
    """Paired arrays: one entry each per image, never broadcast."""
    if len(a) != len(b):
        raise ValueError(
            f"`{name_a}` and `{name_b}` must have one entry per image each, got "
            f"{len(a)} and {len(b)}."
        )


def _square(image):
    image = np.asarray(image)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def image_rows(
    rows, titles=None, row_labels=None, cmap="gray", suptitle=None, size=1.6, value_range=None
):
    """A grid of images: `rows` is a list of rows, each a list of 2-D images.

    Args:
        rows: list of rows of images (`(h, w)` or `(h, w, 1)`); `None` leaves
            a cell empty.
        titles: optional titles for the columns of the first row, or a list
            with one such list (or `None`) per row.
        row_labels: optional label for each row, written on its left.
        cmap: colour map. Default `"gray"`.
        suptitle: the figure's title.
        size: inches per cell.
        value_range: `(vmin, vmax)` shared by every image, or a list with
            one such pair (or `None`) per row. Default `None` stretches
            each image to its own range.
    """
    if not rows or not all(isinstance(row, (list, tuple)) and len(row) for row in rows):
        raise ValueError("`rows` must be a non-empty list of non-empty lists of images.")
    if value_range is None or isinstance(value_range[0], numbers.Real):
        value_range = [value_range] * len(rows)
    if titles is None or not isinstance(titles[0], (list, tuple)):
        titles = [titles] + [None] * (len(rows) - 1)
    for name, per_row in (("titles", titles), ("value_range", value_range)):
        if len(per_row) != len(rows):
            raise ValueError(f"`{name}` has {len(per_row)} entries for {len(rows)} rows.")
    for r, (row, row_titles) in enumerate(zip(rows, titles)):
        if row_titles is not None and len(row_titles) < len(row):
            raise ValueError(
                f"`titles` has {len(row_titles)} titles for row {r} of {len(row)} images."
            )
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(f"`row_labels` has {len(row_labels)} labels for {len(rows)} rows.")
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(size * n_cols, size * n_rows + 0.4), squeeze=False
    )
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            image = row[c] if c < len(row) else None
            if image is None:
                ax.axis("off")
                continue
            vmin, vmax = value_range[r] or (None, None)
            ax.imshow(_square(image), cmap=cmap, interpolation="nearest", vmin=vmin, vmax=vmax)
            if titles[r] is not None:
                ax.set_title(titles[r][c], fontsize=9)
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def matrix_figure(matrices, titles, suptitle=None, fmt="{:g}", cmap="viridis", cell=0.34):
    """Small matrices drawn as coloured cells with their numbers written in.

    Args:
        cell: inches per matrix cell; the numbers are sized to fit it, so
            they stay readable however many cells there are.
    """
    if not matrices or len(matrices) != len(titles):
        raise ValueError(
            f"`matrices` and `titles` must pair up, one title per matrix (at least one), got "
            f"{len(matrices)} and {len(titles)}."
        )
    side = max(max(np.shape(m)) for m in matrices) * cell
    fig, axes = plt.subplots(1, len(matrices), figsize=(side * len(matrices) + 0.4, side + 0.9))
    axes = np.atleast_1d(axes)
    fontsize = max(7, int(cell * 30))
    for ax, matrix, title in zip(axes, matrices, titles):
        matrix = np.asarray(matrix)
        image = ax.imshow(matrix, cmap=cmap)
        for (i, j), value in np.ndenumerate(matrix):
            # Dark text on the light cells, light text on the dark ones.
            light = image.norm(value) > 0.6
            ax.text(
                j,
                i,
                fmt.format(value),
                ha="center",
                va="center",
                color="k" if light else "w",
                fontsize=fontsize,
            )
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def cntk_figure(images, codes, reconstructions, n=5, title="Original, code and reconstruction"):
    """CNTK's visualiser: original, encoding and decoding of the first images.

    The encoding row is drawn when the code has one channel (7x7x1 or
    14x14x1); with more channels the first channel is shown and said so.

    Args:
        images, codes, reconstructions: the first images, their codes and
            their reconstructions.
        n: how many images. Default 5, as CNTK's visualiser.
        title: the figure's title; name the model when several figures sit
            side by side.
    """
    n = checks.positive_int("n", n)
    codes = np.asarray(codes)
    if codes.ndim != 4:
        raise ValueError(f"`codes` must be (images, rows, cols, channels), got {codes.shape}.")
    for name, x in (("images", images), ("codes", codes), ("reconstructions", reconstructions)):
        if len(x) < n:
            raise ValueError(f"`{name}` must hold at least n={n} images, got {len(x)}.")
    h, w, c = codes.shape[1:4]
    # Short labels: they run up the side of a 1.6-inch row.
    code_label = f"code {h}x{w}x{c}" + ("" if c == 1 else "\n(channel 0)")
    rows = [
        list(images[:n]),
        [code[..., 0] for code in codes[:n]],
        list(reconstructions[:n]),
    ]
    return image_rows(
        rows,
        titles=[f"test image {i}" for i in range(n)],
        row_labels=["original", code_label, "decoding"],
        suptitle=title,
        value_range=[(0, 1), None, (0, 1)],
    )


def comparison_figure(images, reconstructions, n=6):
    """Originals above each variant's reconstructions of them.

    Args:
        images: the originals.
        reconstructions: dict from variant name to its reconstructions.
    """
    n = checks.positive_int("n", n)
    if not isinstance(reconstructions, dict) or not reconstructions:
        raise ValueError("`reconstructions` must be a non-empty dict from name to images.")
    n = min([n, len(images), *(len(r) for r in reconstructions.values())])
    if n == 0:
        raise ValueError("`images` and every entry of `reconstructions` need an image.")
    rows = [list(images[:n])] + [list(r[:n]) for r in reconstructions.values()]
    labels = ["original"] + list(reconstructions)
    return image_rows(
        rows, row_labels=labels, suptitle="Reconstructions by setting", value_range=(0, 1)
    )


def _curve_points(curve):
    """(train x, train y, validation x, validation y) of a `LossCurve` or of a
    per-epoch `History.history` dict."""
    if isinstance(curve, dict):
        train = list(curve.get("loss", []))
        val = list(curve.get("val_loss", []))
        return (
            list(range(1, len(train) + 1)),
            train,
            list(range(1, len(val) + 1)),
            val,
        )
    return curve.epochs, curve.losses, curve.val_epochs, curve.val_losses


def loss_curves(curves, ylabel="training RMSE (CNTK's criterion)", title=None, baselines=None):
    """Training (and validation) loss of several runs against epochs.

    Args:
        curves: dict from a run's name to its `training.LossCurve` (several
            points per epoch) or its `History.history` (one per epoch).
        ylabel: what the loss is.
        title: the axes' title. Default: "Training curves", or "Training
            and validation loss" when a run has validation points.
        baselines: optional dict from a label to a loss level, drawn as a
            grey dotted horizontal line (for example what an all-black
            output scores).

    Each run has one colour: a solid line for training, dashed with circles
    for validation. Epoch ticks are whole numbers; the legend sits outside
    the axes, clear of the curves.
    """
    from matplotlib.ticker import MaxNLocator

    if not curves:
        raise ValueError("`curves` holds no training curves to draw.")
    fig, ax = plt.subplots(figsize=(7.6, 3.6))
    left, right = None, 1
    for name, curve in curves.items():
        tx, ty, vx, vy = _curve_points(curve)
        many = len(tx) > len(vx) + 1  # several points per epoch: no markers needed
        label = f"{name}, training" if vy else name
        (line,) = ax.plot(tx, ty, marker=None if many else "o", ms=4, label=label)
        if vy:
            ax.plot(
                vx,
                vy,
                ls="--",
                marker="o",
                ms=6,
                markerfacecolor="white",  # open circles: told apart from the training line
                color=line.get_color(),
                label=f"{name}, validation",
            )
        right = max([right, *tx, *vx])
        left = min([right if left is None else left, *tx, *vx])
    for label, level in (baselines or {}).items():
        ax.axhline(level, color="0.4", ls=":", lw=1.2, label=label)
    # Curves with points inside the first epoch start at 0, where training
    # starts; per-epoch histories start at epoch 1, their first point, so no
    # empty stretch sits at 0. Room for the markers at both ends.
    left = 0 if left is None or left < 1 else left
    pad = 0.04 * max(right - left, 1.0)
    ax.set_xlim(left - pad, right + pad)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if title is None:
        validated = any(_curve_points(c)[3] for c in curves.values())
        title = "Training and validation loss" if validated else "Training curves"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


def at_true_size(image, size):
    """`image` centred on a `size` x `size` canvas of NaN (drawn blank), so a
    pooled image appears at its real size beside the full-size ones."""
    image = _square(image).astype(np.float32)
    h, w = image.shape
    if h > size or w > size:
        raise ValueError(f"`image` of {h}x{w} does not fit a {size}x{size} canvas.")
    canvas = np.full((size, size), np.nan, np.float32)
    top, left = (size - h) // 2, (size - w) // 2
    canvas[top : top + h, left : left + w] = image
    return canvas


def encoding_text(array, decimals=3):
    """An image, code or reconstruction as text, one row per line.

    CNTK's visualiser saves the encoder and decoder outputs of the first test
    images as text files; this is that format: values separated by spaces.
    """
    decimals = checks.positive_int("decimals", decimals, minimum=0)
    array = _square(np.asarray(array))
    if array.ndim == 3:  # several channels: one block per channel
        return "\n\n".join(
            f"# channel {c}\n" + encoding_text(array[..., c], decimals)
            for c in range(array.shape[-1])
        )
    return "\n".join(" ".join(f"{v:.{decimals}f}" for v in row) for row in array)


def _projection(codes):
    codes = np.asarray(codes).reshape(len(codes), -1)
    if codes.shape[1] == 2:
        return codes, ("z[0]", "z[1]"), None
    centred = codes - codes.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, ("PC 1", "PC 2"), vt[:2]


def latent_scatter(codes, labels, point=None, ax=None):
    """Codes as points coloured by digit, with a legend.

    With more than two latent dimensions the scatter shows the first two
    principal components and says so in the title.

    Args:
        codes: `(n, ...)` codes, flattened to `(n, latent_dim)`.
        labels: `(n,)` digit labels.
        point: optional 2-D latent point to mark (only for 2-D codes).
    """
    labels = np.asarray(labels).reshape(-1)
    _same_length("codes", codes, "labels", labels)
    xy, (xlabel, ylabel), basis = _projection(codes)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.8))
    else:
        fig = ax.figure
    for digit in np.unique(labels):
        keep = labels == digit
        ax.scatter(xy[keep, 0], xy[keep, 1], s=4, alpha=0.5, label=str(digit))
    if point is not None and basis is None:
        ax.scatter([point[0]], [point[1]], marker="*", s=250, c="black", label="decoded point")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    dims = np.asarray(codes).reshape(len(codes), -1).shape[1]
    title = "Latent space by digit"
    if basis is not None:
        title += f"\n(first two principal components of {dims}-D codes)"
    ax.set_title(title)
    legend = ax.legend(title="digit", fontsize=8)
    for handle in legend.legend_handles:  # legend dots readable, the star not huge
        handle.set_sizes([30])
    fig.tight_layout()
    return fig


def _decode(decoder, codes):
    # A direct call, not `predict`: a few small batches in a row would each
    # trace a new TensorFlow function and print a retracing warning.
    import keras

    return keras.ops.convert_to_numpy(decoder(codes, training=False))


def latent_manifold(decoder, low, high, n=12, ax=None, title=None):
    """Decoded images on an n x n grid spanning the box `low`..`high` (2-D).

    Args:
        decoder: a model from `(1, 1, 2)` codes to images.
        low, high: the box's corners, `(z0, z1)` each.
        n: images per side. Default 12.
        ax: axes to draw on. Default: a new figure.
        title: the axes' title.
    """
    n = checks.positive_int("n", n)
    low = checks.point("low", low, 2)
    high = checks.point("high", high, 2)
    if low is None or high is None or not np.all(low < high):
        raise ValueError(
            f"`low` and `high` must be two corners (z0, z1) with low < high on both axes, "
            f"got {low!r} and {high!r}."
        )
    xs = np.linspace(low[0], high[0], n)
    ys = np.linspace(high[1], low[1], n)  # top row = largest z[1]
    grid = np.array([[x, y] for y in ys for x in xs], np.float32).reshape(-1, 1, 1, 2)
    images = _decode(decoder, grid)[..., 0]
    canvas = images.reshape(n, n, 28, 28).transpose(0, 2, 1, 3).reshape(n * 28, n * 28)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 6))
    else:
        fig = ax.figure
    ax.imshow(
        canvas,
        cmap="gray",
        extent=(low[0], high[0], low[1], high[1]),
        aspect="auto",
        vmin=0,
        vmax=1,
    )
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title or "Latent manifold: decoded images over the codes' region")
    fig.tight_layout()
    return fig


def decoded_point(codes, labels, decoder, point):
    """The latent scatter with `point` marked, beside the image decoded from it."""
    point = np.asarray(point, np.float32).reshape(-1)
    fig, (ax_scatter, ax_image) = plt.subplots(
        1, 2, figsize=(9, 4.2), gridspec_kw={"width_ratios": [1.4, 1]}
    )
    latent_scatter(codes, labels, point=point, ax=ax_scatter)
    image = _decode(decoder, point.reshape(1, 1, 1, -1))[0, :, :, 0]
    ax_image.imshow(image, cmap="gray", vmin=0, vmax=1)  # the same 0-1 scale as the data
    ax_image.set_xticks([])
    ax_image.set_yticks([])
    ax_image.set_title(f"decoded from ({point[0]:.2f}, {point[1]:.2f})")
    fig.tight_layout()
    return fig


def score_histograms(scores, is_anomaly, threshold, names=("normal", "anomaly"), xlabel=None):
    """Histograms of a score for normal images and anomalies, with the threshold.

    Args:
        scores: `(n,)` scores (reconstruction errors).
        is_anomaly: `(n,)` booleans.
        threshold: drawn as a vertical line; images to its right are flagged.
        names: labels of the two groups.
        xlabel: what the score is. Default "reconstruction error (MSE)".
    """
    scores, is_anomaly = np.asarray(scores, np.float64).reshape(-1), np.asarray(is_anomaly)
    _same_length("scores", scores, "is_anomaly", is_anomaly)
    if not np.all(np.isfinite(scores)) or scores.size == 0:
        raise ValueError("`scores` must be finite numbers, at least one (NaN has no bin).")
    if not np.isfinite(threshold):
        raise ValueError(f"`threshold` must be a finite number, got {threshold!r}.")
    is_anomaly = is_anomaly.astype(bool)
    fig, ax = plt.subplots(figsize=(7.6, 3.6))
    # The axis stops at the 99.5th percentile: a few extreme errors would
    # squeeze everything else into the first bins.
    bins = np.linspace(scores.min(), np.quantile(scores, 0.995), 60)
    for group, label in ((~is_anomaly, names[0]), (is_anomaly, names[1])):
        # Densities, not counts: the groups differ tenfold in size.
        ax.hist(
            scores[group],
            bins=bins,
            density=True,
            alpha=0.55,
            label=f"{label} ({group.sum()} images)",
        )
    ax.axvline(threshold, color="black", ls="--", label="threshold")
    ax.set_xlabel(
        (xlabel or "reconstruction error (MSE)") + "; the top 0.5% lie off the right edge"
    )
    ax.set_ylabel("density")
    ax.set_title("Reconstruction error by group")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


def roc_figure(fpr, tpr, auc, point=None):
    """The ROC curve with its AUC, the diagonal of a coin toss, and optionally
    the operating point `(false alarm rate, detection rate)` of a threshold."""
    _same_length("fpr", np.asarray(fpr).reshape(-1), "tpr", np.asarray(tpr).reshape(-1))
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.plot(fpr, tpr, label=f"autoencoder (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", label="coin toss (AUC 0.5)")
    if point is not None:
        ax.plot([point[0]], [point[1]], "o", color="black", label="the threshold")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate (normal images flagged)")
    ax.set_ylabel("true positive rate (anomalies flagged)")
    ax.set_title("ROC curve")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def accuracy_vs_labels(rows, title="Test accuracy against the number of labels"):
    """Test accuracy of each classifier against the number of labelled
    images (log axis): the mean over draws as a line, the lowest and highest
    draw as a band.

    Args:
        rows: `fewlabels.summarize` rows (`labels`, `classifier` and
            `test_accuracy`, `[mean, lowest, highest]`).
        title: the axes' title.
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    if not rows:
        raise ValueError("`rows` holds no results to draw.")
    fig, ax = plt.subplots(figsize=(7.6, 4.0))
    styles = {"scratch": "-", "frozen": ":", "fine-tuned": "--"}
    colours = {}
    for name in dict.fromkeys(r["classifier"] for r in rows):
        mine = sorted((r for r in rows if r["classifier"] == name), key=lambda r: r["labels"])
        n = [r["labels"] for r in mine]
        objective = name.split("(")[-1].rstrip(")") if "(" in name else None
        colour = "black" if objective is None else colours.setdefault(objective, f"C{len(colours)}")
        arm = name.split(" (")[0]
        ax.plot(
            n,
            [r["test_accuracy"][0] for r in mine],
            ls=styles.get(arm, "-"),
            lw=2 if arm == "frozen" else 1.5,
            marker={None: "o", "plain": "s", "denoising": "^"}.get(objective, "D"),
            ms=6,
            color=colour,
            label=name,
        )
        ax.fill_between(
            n,
            [r["test_accuracy"][1] for r in mine],
            [r["test_accuracy"][2] for r in mine],
            color=colour,
            alpha=0.12,
            lw=0,
        )
    # Ten digits: a classifier that guesses scores 0.1.
    ax.axhline(0.1, color="0.4", lw=1, ls="-.", label="chance (1 in 10)")
    counts = sorted({r["labels"] for r in rows})
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(counts))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{c:,}" for c in counts])
    ax.set_xlabel("labelled images (log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


#: One fixed colour per scene class: black background, then a colour per digit,
#: chosen so that digits people confuse (2 and 8, 0 and 9, 4 and 9) differ in hue
#: and brightness, not only slightly in shade as tab10's neighbours do.
SCENE_COLOURS = [
    "#000000",  # background
    "#4477ff",  # 0 blue
    "#ffffff",  # 1 white
    "#ff3333",  # 2 red
    "#ffdd00",  # 3 yellow
    "#33cc33",  # 4 green
    "#ff66ff",  # 5 pink
    "#00e5e5",  # 6 cyan
    "#ff9900",  # 7 orange
    "#9966ff",  # 8 violet
    "#996633",  # 9 brown
]
#: Model colours in bar charts: greys and a blue, never a digit's colour.
MODEL_COLOURS = ["#222222", "#888888", "#1f4e9c", "#bbbbbb"]


def mask_image(mask):
    """A label map `(rows, cols)` as an RGB image in `SCENE_COLOURS`."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"`mask` must be an integer label map (rows, cols), got {mask.shape}.")
    if mask.size and (mask.min() < 0 or mask.max() >= len(SCENE_COLOURS)):
        raise ValueError(f"`mask` must hold classes 0..{len(SCENE_COLOURS) - 1}.")
    palette = np.array([matplotlib.colors.to_rgb(c) for c in SCENE_COLOURS])
    return palette[mask]


def segmentation_figure(scenes, masks, predicted, title=None):
    """Scenes, their true masks and each model's predicted masks, one column
    per scene, one fixed colour per digit and a legend.

    Args:
        scenes: `(n, rows, cols, 1)` scenes.
        masks: `(n, rows, cols)` true labels.
        predicted: dict from model name to its `(n, rows, cols)` labels.
        title: the figure's title. Default: says the size.
    """
    scenes, masks = np.asarray(scenes), np.asarray(masks)
    _same_length("scenes", scenes, "masks", masks)
    if not isinstance(predicted, dict):
        raise ValueError("`predicted` must be a dict from model name to label maps.")
    for name, labels in predicted.items():
        _same_length("masks", masks, f"predicted[{name!r}]", labels)
    n = len(scenes)
    if n == 0:
        raise ValueError("`scenes` holds no scenes to draw.")
    rows = [("scene", None), ("truth", masks)] + list(predicted.items())
    height, width = scenes.shape[1:3]
    cell = 2.8  # inches per panel's height: large enough to see a stroke's edge
    fig, axes = plt.subplots(
        len(rows),
        n,
        figsize=(cell * n * width / height + 1.8, cell * len(rows) + 0.6),
        squeeze=False,
        gridspec_kw={"wspace": 0.06, "hspace": 0.08},  # a gap between panels
    )
    for r, (label, labels) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():  # a light frame: black scenes touch
                spine.set_color("0.75")
            if labels is None:
                ax.imshow(scenes[c, :, :, 0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(mask_image(np.asarray(labels[c])), interpolation="nearest")
        axes[r, 0].set_ylabel(label, fontsize=10)
    handles = [
        matplotlib.patches.Patch(color=colour, label="background" if i == 0 else f"digit {i - 1}")
        for i, colour in enumerate(SCENE_COLOURS)
    ]
    legend = fig.legend(handles=handles, loc="center right", fontsize=11, frameon=True)
    legend.get_frame().set_facecolor("0.85")  # the white digit 1 shows on grey
    fig.suptitle(title or f"Predicted masks on {height}x{width} test scenes", fontsize=13)
    fig.subplots_adjust(left=0.04, right=0.86, top=0.93, bottom=0.02)
    return fig


def iou_bars(iou_by_model, title="IoU per class"):
    """Grouped bars: each class's IoU for each model (missing classes left blank).

    Args:
        iou_by_model: dict from model name to a list of IoU per class
            (`None` where a class was absent).
        title: the axes' title.
    """
    if not isinstance(iou_by_model, dict) or not iou_by_model:
        raise ValueError("`iou_by_model` must be a non-empty dict from model name to IoUs.")
    lengths = {len(v) for v in iou_by_model.values()}
    if len(lengths) != 1:
        raise ValueError(f"every model needs one IoU per class, got lengths {sorted(lengths)}.")
    classes = lengths.pop()
    fig, ax = plt.subplots(figsize=(8.4, 3.4))
    width = 0.8 / len(iou_by_model)
    for k, (name, values) in enumerate(iou_by_model.items()):
        heights = [np.nan if v is None else v for v in values]
        ax.bar(
            np.arange(classes) + (k - (len(iou_by_model) - 1) / 2) * width,
            heights,
            width,
            label=name,
            color=MODEL_COLOURS[k % len(MODEL_COLOURS)],
        )
    ax.set_xticks(range(classes))
    ax.set_xticklabels(["bg"] + [str(d) for d in range(classes - 1)])
    ax.set_xlabel("class (bg: background, then the digit)")
    ax.set_ylabel("IoU")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig
