"""Command line: `python -m cae_keras reproduce` and `python -m cae_keras notebooks`."""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _int_at_least(minimum):
    """An argparse type: an integer no smaller than `minimum`."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def build_parser():
    from cae_keras.reproduce import DEFAULTS, VARIANTS

    parser = argparse.ArgumentParser(prog="python -m cae_keras", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser(
        "reproduce",
        help="train every CNTK 07_Deconvolution variant and compare with CNTK's RMSE",
        description="Train CNTK's autoencoder variants on MNIST and print one table.",
    )
    rep.add_argument(
        "--epochs",
        type=_positive_int,
        default=DEFAULTS["epochs"],
        help=f"epochs per variant (default {DEFAULTS['epochs']})",
    )
    rep.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        metavar="NAME",
        help="variants to train (default all): " + ", ".join(VARIANTS),
    )
    rep.add_argument(
        "--limit",
        type=_positive_int,
        default=None,
        help="use at most this many images per split (default: all)",
    )
    rep.add_argument(
        "--seed",
        type=_non_negative_int,
        default=DEFAULTS["seed"],
        help=f"random seed (default {DEFAULTS['seed']})",
    )
    rep.add_argument("--out", default="outputs", help="output folder (default outputs/)")
    rep.add_argument("--data", default=None, help="an mnist.npz (default: search)")
    nbs = sub.add_parser("notebooks", help="re-execute the lessons in place")
    nbs.add_argument("paths", nargs="*", help="notebooks (default: notebooks/*.ipynb)")
    nbs.add_argument(
        "--timeout",
        type=_positive_int,
        default=900,
        help="seconds per cell (default 900)",
    )
    return parser


def reproduce(args):
    from cae_keras import data, plots
    from cae_keras.reproduce import (
        DEFAULTS,
        check_variants,
        first_images,
        format_table,
        run_variant,
        write_visualiser_text,
    )

    try:
        variants = check_variants(args.variants)
    except ValueError as error:
        raise SystemExit(f"error: --variants: {error}") from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"error: --out: {str(out)!r} exists and is not a folder")
    try:
        (x_train, _), (x_test, _) = data.load_mnist(args.data, limit=args.limit, scale=256.0)
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: --data: {error}") from None
    print(
        f"Training {len(variants)} variants on {len(x_train)} images, testing on "
        f"{len(x_test)}: {args.epochs} epochs, Adam, seed {args.seed}.",
        flush=True,
    )
    # Everything goes to a scratch folder first and moves into --out only when
    # every variant has finished: an interrupted run leaves no results.json.
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".reproduce-", dir=out.parent))
    try:
        records, reconstructions, histories = [], {}, {}
        started = time.perf_counter()
        for i, variant in enumerate(variants, 1):
            print(
                f"[{i}/{len(variants)}] {variant.name}: {variant.description} ...",
                flush=True,
            )
            record, model, history = run_variant(
                variant,
                x_train,
                x_test,
                epochs=args.epochs,
                batch_size=DEFAULTS["batch_size"],
                learning_rate=DEFAULTS["learning_rate"],
                seed=args.seed,
            )
            print(
                f"      test RMSE {record['test_rmse']:.4f} "
                f"(train {record['train_rmse']:.4f}) in {record['seconds']:.1f} s",
                flush=True,
            )
            records.append(record)
            histories[variant.name] = history.history
            codes, recon = first_images(model, x_test)
            reconstructions[variant.name] = recon
            fig = plots.cntk_figure(x_test, codes, recon)
            fig.savefig(scratch / f"{variant.name}_figure.png", dpi=100)
            plots.plt.close(fig)
            write_visualiser_text(scratch, codes, recon, prefix=f"{variant.name}_")
        total = time.perf_counter() - started
        for name, fig in (
            ("comparison.png", plots.comparison_figure(x_test, reconstructions)),
            ("loss_curves.png", plots.loss_curves(histories)),
        ):
            fig.savefig(scratch / name, dpi=100)
            plots.plt.close(fig)
        summary = {
            "epochs": args.epochs,
            "seed": args.seed,
            "train_images": int(len(x_train)),
            "test_images": int(len(x_test)),
            "total_seconds": round(total, 1),
            "variants": records,
        }
        (scratch / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
        out.mkdir(parents=True, exist_ok=True)
        for item in scratch.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(format_table(records))
    print(f"\nTotal {total:.1f} s. Table, figures and text written to {out}/")
    missed = [r["variant"] for r in records if r["meets_target"] is False]
    return 1 if missed else 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "reproduce":
        return reproduce(args)
    from cae_keras.notebooks import execute_notebooks

    paths = args.paths or sorted(Path("notebooks").glob("[0-9]*.ipynb"))
    if not paths:
        raise SystemExit("error: no notebooks given and none in notebooks/")
    execute_notebooks(paths, timeout=args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
