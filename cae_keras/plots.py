"""Pictures for the lessons. Each function returns a matplotlib `Figure` and
leaves showing and saving to the caller (`plt.show()`, `fig.savefig(...)`)."""

import matplotlib.pyplot as plt
import numpy as np


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
        titles: optional titles for the columns of the first row.
        row_labels: optional label for each row, written on its left.
        cmap: colour map. Default `"gray"`.
        suptitle: the figure's title.
        size: inches per cell.
        value_range: `(vmin, vmax)` shared by every image, or a list with
            one such pair (or `None`) per row. Default `None` stretches
            each image to its own range.
    """
    if value_range is None or isinstance(value_range[0], (int, float)):
        value_range = [value_range] * len(rows)
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
            if r == 0 and titles is not None:
                ax.set_title(titles[c], fontsize=9)
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def matrix_figure(matrices, titles, suptitle=None, fmt="{:g}", cmap="viridis"):
    """Small matrices drawn as coloured cells with their numbers written in."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(2.6 * len(matrices), 2.8))
    axes = np.atleast_1d(axes)
    for ax, matrix, title in zip(axes, matrices, titles):
        matrix = np.asarray(matrix)
        ax.imshow(matrix, cmap=cmap)
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, fmt.format(value), ha="center", va="center", color="w", fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def cntk_figure(images, codes, reconstructions, n=5):
    """CNTK's visualiser: original, encoding and decoding of the first images.

    The encoding row is drawn when the code has one channel (7x7x1 or
    14x14x1); with more channels the first channel is shown and said so.
    """
    codes = np.asarray(codes)
    code_label = "encoding" if codes.shape[-1] == 1 else "encoding (channel 0)"
    rows = [
        list(images[:n]),
        [code[..., 0] for code in codes[:n]],
        list(reconstructions[:n]),
    ]
    h, w = codes.shape[1:3]
    return image_rows(
        rows,
        titles=[f"test image {i}" for i in range(n)],
        row_labels=["original", f"{code_label}\n{h}x{w}", "decoding"],
        suptitle="Original, code and reconstruction",
        value_range=[(0, 1), None, (0, 1)],
    )


def comparison_figure(images, reconstructions, n=6):
    """Originals above each variant's reconstructions of them.

    Args:
        images: the originals.
        reconstructions: dict from variant name to its reconstructions.
    """
    n = min([n, *(len(r) for r in reconstructions.values())])
    rows = [list(images[:n])] + [list(r[:n]) for r in reconstructions.values()]
    labels = ["original"] + list(reconstructions)
    return image_rows(
        rows, row_labels=labels, suptitle="Reconstructions by setting", value_range=(0, 1)
    )


def loss_curves(histories, key="loss", ylabel="training RMSE (CNTK's criterion)"):
    """Loss per epoch for several runs: a dict from name to `History.history`."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, history in histories.items():
        values = history[key]
        ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title("Training curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def encoding_text(array, decimals=3):
    """An image, code or reconstruction as text, one row per line.

    CNTK's visualiser saves the encoder and decoder outputs of the first test
    images as text files; this is that format: values separated by spaces.
    """
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
    xy, (xlabel, ylabel), basis = _projection(codes)
    labels = np.asarray(labels)
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


def latent_manifold(decoder, low, high, n=12):
    """Decoded images on an n x n grid spanning the box `low`..`high` (2-D)."""
    xs = np.linspace(low[0], high[0], n)
    ys = np.linspace(high[1], low[1], n)  # top row = largest z[1]
    grid = np.array([[x, y] for y in ys for x in xs], np.float32).reshape(-1, 1, 1, 2)
    images = decoder.predict(grid, verbose=0)[..., 0]
    canvas = images.reshape(n, n, 28, 28).transpose(0, 2, 1, 3).reshape(n * 28, n * 28)
    fig, ax = plt.subplots(figsize=(6, 6))
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
    ax.set_title("Latent manifold: decoded images over the codes' region")
    fig.tight_layout()
    return fig


def decoded_point(codes, labels, decoder, point):
    """The latent scatter with `point` marked, beside the image decoded from it."""
    point = np.asarray(point, np.float32).reshape(-1)
    fig, (ax_scatter, ax_image) = plt.subplots(
        1, 2, figsize=(9, 4.2), gridspec_kw={"width_ratios": [1.4, 1]}
    )
    latent_scatter(codes, labels, point=point, ax=ax_scatter)
    image = decoder.predict(point.reshape(1, 1, 1, -1), verbose=0)[0, :, :, 0]
    ax_image.imshow(image, cmap="gray")
    ax_image.set_xticks([])
    ax_image.set_yticks([])
    ax_image.set_title(f"decoded from ({point[0]:.2f}, {point[1]:.2f})")
    fig.tight_layout()
    return fig
