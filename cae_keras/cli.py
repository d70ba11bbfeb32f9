"""Command line: `python -m cae_keras reproduce`, `anomaly` and `notebooks`."""

import argparse
import sys
import time
from pathlib import Path

# Seeds go to NumPy and the backends, which take 32-bit seeds; more epochs than
# this is a typo, not a plan.
_MAX_SEED = 2**32 - 1
_MAX_EPOCHS = 1000


def _int_in(low, high):
    """An argparse type: an integer from `low` to `high`."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {low} to {high}, got {text!r}"
            )
        return value

    return parse


_VARIANT_NAMES = (
    "cmap1_pool4",
    "cmap3_pool4",
    "cmap1_pool2",
    "two_layer",
    "cmap1_pool4_upsample",
    "two_layer_upsample",
)


class _Parser(argparse.ArgumentParser):
    """Argument errors as `error: --flag: what was expected`, like the rest."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message.removeprefix('argument ')}\n")


def build_parser():
    # No Keras import here: `--help` and argument errors answer at once.
    parser = _Parser(prog="python -m cae_keras", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser(
        "reproduce",
        help="train every CNTK 07_Deconvolution variant and compare with CNTK's RMSE",
        description=(
            "Train CNTK's autoencoder variants on MNIST and print one table: CNTK's "
            "published RMSE, CNTK's recipe in Keras, and ours. Results go to --out, "
            "which holds one run: a new run replaces the files of the previous one "
            "(those its results.json lists) and writes results.json last."
        ),
    )
    rep.add_argument(
        "--recipe",
        choices=("ours", "cntk", "both"),
        default="ours",
        help="ours (default), CNTK's translated to Keras, or both",
    )
    rep.add_argument(
        "--seeds",
        nargs="+",
        type=_int_in(0, _MAX_SEED),
        default=None,
        metavar="SEED",
        help="train every variant once per seed and report mean and min-max (default: 0)",
    )
    rep.add_argument(
        "--seed",
        type=_int_in(0, _MAX_SEED),
        default=None,
        help="one seed, the same as --seeds SEED",
    )
    rep.add_argument(
        "--epochs",
        type=_int_in(1, _MAX_EPOCHS),
        default=None,
        help="epochs per variant (default: the recipe's, CNTK's 3)",
    )
    rep.add_argument(
        "--variants",
        nargs="+",
        default=list(_VARIANT_NAMES),
        metavar="NAME",
        help="variants to train (default all): " + ", ".join(_VARIANT_NAMES),
    )
    rep.add_argument(
        "--limit",
        type=_int_in(1, 60000),
        default=None,
        help="use at most this many images per split (default: all)",
    )
    rep.add_argument("--out", default="outputs", help="output folder (default outputs/)")
    rep.add_argument("--data", default=None, help="an mnist.npz (default: search)")
    ano = sub.add_parser(
        "anomaly",
        help="lesson 08's anomaly detection for every held-out digit: one AUC table",
        description=(
            "For each digit: train an autoencoder on the other nine, score the test set by "
            "reconstruction error, and print the AUC, and the detection and false-alarm "
            "rates at a threshold set on validation images of the nine."
        ),
    )
    ano.add_argument(
        "--digits",
        nargs="+",
        type=_int_in(0, 9),
        default=list(range(10)),
        metavar="DIGIT",
        help="digits to hold out, one run each (default: 0 to 9)",
    )
    ano.add_argument(
        "--epochs", type=_int_in(1, _MAX_EPOCHS), default=3, help="epochs per run (default 3)"
    )
    ano.add_argument(
        "--limit",
        type=_int_in(1, 60000),
        default=None,
        help="use at most this many images per split (default: all)",
    )
    ano.add_argument(
        "--latent-dim", type=_int_in(1, 784), default=16, help="numbers in the code (default 16)"
    )
    ano.add_argument("--seed", type=_int_in(0, _MAX_SEED), default=0, help="seed (default 0)")
    ano.add_argument("--json", default=None, help="also write the table to this JSON file")
    nbs = sub.add_parser("notebooks", help="re-execute the lessons in place")
    nbs.add_argument("paths", nargs="*", help="notebooks (default: notebooks/*.ipynb)")
    nbs.add_argument(
        "--timeout",
        type=_int_in(1, 86400),
        default=900,
        help="seconds per cell (default 900)",
    )
    return parser


def _error(flag, message):
    return SystemExit(f"error: {flag}: {message}")


def reproduce(args):
    from cae_keras import data, plots, publish
    from cae_keras.reproduce import (
        RECIPES,
        check_variants,
        first_images,
        format_table,
        run_variant,
        summarize,
        write_visualiser_text,
    )
    from cae_keras.training import EpochProgress

    try:
        variants = check_variants(args.variants)
    except ValueError as error:
        raise _error("--variants", error) from None
    if args.seed is not None and args.seeds is not None:
        raise _error("--seed", "give --seed or --seeds, not both")
    seeds = args.seeds or [0 if args.seed is None else args.seed]
    if len(set(seeds)) != len(seeds):
        raise _error("--seeds", f"each seed once, got {seeds}")
    recipes = ["cntk", "ours"] if args.recipe == "both" else [args.recipe]
    try:
        out = publish.check_output_folder(args.out)
    except ValueError as error:
        raise _error("--out", error) from None
    try:
        (x_train, _), (x_test, _) = data.load_mnist(args.data, limit=args.limit, scale=256.0)
    except (OSError, ValueError) as error:
        raise _error("--data", error) from None
    # The targets hold for the default recipe on the full data and budget only.
    budget = RECIPES["ours"].epochs
    targets = "ours" in recipes and args.limit is None and args.epochs in (None, budget)
    runs = [(v, r, s) for v in variants for r in recipes for s in seeds]
    print(
        f"Training {len(variants)} variants x {len(recipes)} recipe(s) x {len(seeds)} seed(s) "
        f"on {len(x_train)} images, testing on {len(x_test)}.",
        flush=True,
    )
    for name in recipes:
        epochs = args.epochs or RECIPES[name].epochs
        print(f"  {RECIPES[name].description}; {epochs} epochs", flush=True)
    try:
        with publish.publishing(out) as run:
            records, reconstructions, histories = [], {}, {}
            started = time.perf_counter()
            for i, (variant, recipe, seed) in enumerate(runs, 1):
                tag = f"{variant.name}, {recipe} recipe, seed {seed}"
                print(f"[{i}/{len(runs)}] {tag}: {variant.description}", flush=True)
                record, model, history = run_variant(
                    variant,
                    x_train,
                    x_test,
                    recipe=recipe,
                    seed=seed,
                    epochs=args.epochs,
                    callbacks=[EpochProgress("      ")],
                )
                print(
                    f"      test RMSE {record['test_rmse']:.4f} "
                    f"(train {record['train_rmse']:.4f}) in {record['seconds']:.1f} s",
                    flush=True,
                )
                records.append(record)
                # Figures and CNTK's text files for the first seed of each
                # variant and recipe: one set per model people compare.
                if seed == seeds[0]:
                    key = variant.name if len(recipes) == 1 else f"{variant.name}_{recipe}"
                    histories[key] = history.history
                    codes, recon = first_images(model, x_test)
                    reconstructions[key] = recon
                    fig = plots.cntk_figure(x_test, codes, recon)
                    fig.savefig(run.scratch / f"{key}_figure.png", dpi=100)
                    plots.plt.close(fig)
                    write_visualiser_text(run.scratch, codes, recon, prefix=f"{key}_")
            total = time.perf_counter() - started
            for name, fig in (
                ("comparison.png", plots.comparison_figure(x_test, reconstructions)),
                ("loss_curves.png", plots.loss_curves(histories)),
            ):
                fig.savefig(run.scratch / name, dpi=100)
                plots.plt.close(fig)
            rows = summarize(records, targets=targets)
            run.publish(
                {
                    "recipes": {name: RECIPES[name].description for name in recipes},
                    "epochs": args.epochs,
                    "seeds": seeds,
                    "train_images": int(len(x_train)),
                    "test_images": int(len(x_test)),
                    "targets_apply": targets,
                    "total_seconds": round(total, 1),
                    "summary": rows,
                    "runs": records,
                }
            )
    except OSError as error:
        raise _error("--out", f"cannot write results: {error}") from None
    print()
    print(format_table(rows, targets=targets))
    if not targets:
        print("\nNo target for this run: targets apply to the full data, the default recipe")
        print(f"and its {budget} epochs only.")
    print(f"\nTotal {total:.1f} s. Table, figures and text written to {out}/")
    missed = [row["variant"] for row in rows if row["meets_target"] is False]
    return 1 if missed else 0


def anomaly(args):
    import json

    from cae_keras.anomaly import format_auc_table, run_held_out
    from cae_keras.publish import write_file

    digits = sorted(set(args.digits))
    if args.json is not None and not Path(args.json).resolve().parent.is_dir():
        raise _error("--json", f"no folder to write {args.json!r} into")
    print(
        f"Holding out {digits}, one run each: {args.epochs} epoch(s), "
        f"{args.latent_dim}-number code, seed {args.seed}.",
        flush=True,
    )
    records = []
    for digit in digits:
        record = run_held_out(
            digit, epochs=args.epochs, limit=args.limit, latent_dim=args.latent_dim, seed=args.seed
        )
        for key in ("model", "scores"):
            record.pop(key)
        print(
            f"  held out {digit}: AUC {record['auc']:.3f} ({record['seconds']:.1f} s)", flush=True
        )
        records.append(record)
    print()
    print(format_auc_table(records))
    if args.json is not None:
        settings = {k: getattr(args, k) for k in ("epochs", "limit", "latent_dim", "seed")}
        payload = {"settings": settings, "runs": records}
        write_file(args.json, lambda f: json.dump(payload, f, indent=2))
        print(f"\nwrote {args.json}")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    import logging

    from cae_keras._quiet import native_stderr_silenced

    # TensorFlow's Python-side warnings (retracing notes with --limit) are not
    # for this terminal; errors still show.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if args.command == "reproduce":
        with native_stderr_silenced():
            return reproduce(args)
    if args.command == "anomaly":
        with native_stderr_silenced():
            return anomaly(args)
    from cae_keras.notebooks import execute_notebooks

    paths = args.paths or sorted(Path("notebooks").glob("[0-9]*.ipynb"))
    if not paths:
        raise SystemExit("error: no notebooks given and none in notebooks/")
    try:
        with native_stderr_silenced():
            execute_notebooks(paths, timeout=args.timeout)
    except ValueError as error:
        raise SystemExit(f"error: paths: {error}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
