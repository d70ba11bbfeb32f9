"""Command line: `reproduce`, `anomaly`, `fewlabels`, `segment` and `notebooks`.

Run it as `python -m cae_keras COMMAND` or, once the package is installed, as
`cae-keras COMMAND`. This module only parses, prints and sets the exit code;
each job lives in the module a notebook can call, with the same arguments
for the same things (`reproduce.run`, `anomaly.run`, `fewlabels.run`,
`segment.run`: `data`, `out`, `seeds`, `epochs`, `limit`, `log`), and
`notebooks.execute_notebooks`. Arguments are parsed before Keras loads, so
`--help` and a bad value of one flag answer at once; a rule between values
(a name given twice, more labels than the data holds) is the job's, checked
before any training, and its `checks.ArgumentError` names the flag.

Exit codes: 0 done; 1 a run failed or a full-size `reproduce` missed a
target; 2 a bad argument (with the usage line, like argparse's own errors).
"""

import argparse
import sys
from pathlib import Path

# Seeds go to NumPy and the backends, which take 32-bit seeds; more epochs than
# this is a typo, not a plan.
_MAX_SEED = 2**32 - 1
_MAX_EPOCHS = 1000

# `reproduce.VARIANTS`' names, kept here so parsing needs no Keras (a test
# checks the two agree).
_VARIANT_NAMES = (
    "cmap1_pool4",
    "cmap3_pool4",
    "cmap1_pool2",
    "two_layer",
    "cmap1_pool4_upsample",
    "two_layer_upsample",
)


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


def _positive_float(text):
    """An argparse type: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text!r}")
    return value


def _fraction(text):
    """An argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """Argument errors as `error: --flag: what was expected`, like the rest."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message.removeprefix('argument ')}\n")


class UsageError(Exception):
    """A bad value found after parsing: `flag` and what was expected. `main`
    reports it as argparse does (usage line, `error: flag: message`, exit 2)."""

    def __init__(self, flag, message):
        super().__init__(f"{flag}: {message}")


def _size(text):
    """`48` or `61x83` as `(rows, cols)`, each at least 28 (a digit's size)."""
    parts = text.lower().split("x")
    try:
        rows, cols = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (0, 0)
    except ValueError:
        rows = cols = 0
    if rows < 28 or cols < 28 or rows > 4096 or cols > 4096:
        raise argparse.ArgumentTypeError(
            f"expected ROWS or ROWSxCOLS, each from 28 to 4096, got {text!r}"
        )
    return rows, cols


def _add_job_options(parser, command, seeds, epochs, epochs_help, least=1):
    """The options every job takes: `--data`, `--out`, `--seeds`, `--epochs`, `--limit`."""
    parser.add_argument("--data", default=None, help="an mnist.npz (default: search)")
    out = f"outputs/{command}"
    parser.add_argument("--out", default=out, help=f"output folder (default {out}/)")
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=_int_in(0, _MAX_SEED),
        default=list(seeds),
        metavar="SEED",
        help=f"seeds, each once: one run per seed (default {' '.join(map(str, seeds))})",
    )
    parser.add_argument("--epochs", type=_int_in(1, _MAX_EPOCHS), default=epochs, help=epochs_help)
    parser.add_argument(
        "--limit",
        type=_int_in(least, 60000),
        default=None,
        help="use at most this many images per split (default: all)",
    )


def build_parser(prog=None):
    """The argument parser. `prog` is the name in the usage line (default:
    the name the program was called by, such as `cae-keras`)."""
    # No Keras import here: `--help` and argument errors answer at once.
    parser = _Parser(
        prog=prog,
        description=(
            "cae-keras, convolutional autoencoders with Keras 3: the lessons' jobs at full "
            "size. Exit codes: 0 done; 1 a run failed or a full-size reproduce missed a "
            "target; 2 a bad argument."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    rep = sub.add_parser(
        "reproduce",
        help="train every CNTK 07_Deconvolution variant and compare with CNTK's RMSE",
        description=(
            "Train CNTK's autoencoder variants on MNIST and print one table: CNTK's "
            "published RMSE, CNTK's recipe in Keras, and ours. --out keeps one run: the "
            "new one replaces the previous one only once it is complete (results.json, "
            "table.txt, figures, CNTK's text files)."
        ),
    )
    _add_job_options(rep, "reproduce", [0], None, "epochs per run (default: the recipe's, 3)")
    rep.add_argument(
        "--recipe",
        choices=("ours", "cntk", "both"),
        default="ours",
        help="ours (default), CNTK's translated to Keras, or both",
    )
    rep.add_argument(
        "--variants",
        nargs="+",
        choices=_VARIANT_NAMES,
        default=list(_VARIANT_NAMES),
        metavar="NAME",
        help="variants to train, each once (default all): " + ", ".join(_VARIANT_NAMES),
    )
    rep.set_defaults(run=reproduce, usage_error=rep.error)
    ano = sub.add_parser(
        "anomaly",
        help="lesson 08's anomaly detection for every held-out digit: one AUC table",
        description=(
            "For each digit and seed: train an autoencoder on the other nine, score the test "
            "set by reconstruction error, and print the AUC, and the detection and "
            "false-alarm rates at a threshold set on validation images of the nine. --out "
            "keeps one run (results.json, table.txt)."
        ),
    )
    _add_job_options(ano, "anomaly", [0], 3, "epochs per run (default 3)")
    ano.add_argument(
        "--digits",
        nargs="+",
        type=_int_in(0, 9),
        default=list(range(10)),
        metavar="DIGIT",
        help="digits to hold out, each once, one run each (default: 0 to 9)",
    )
    ano.add_argument(
        "--latent-dim", type=_int_in(1, 784), default=16, help="numbers in the code (default 16)"
    )
    ano.set_defaults(run=anomaly, usage_error=ano.error)
    few = sub.add_parser(
        "fewlabels",
        help="lesson 11 at full size: what pretraining an encoder is worth with few labels",
        description=(
            "Pretrain an encoder as an autoencoder on the training images without labels "
            "(once per objective), then train a classifier from scratch, on the frozen "
            "pretrained encoder and on the fine-tuned one, on one labelled draw per seed "
            "at each number of labels; print the test accuracy (mean and min-max over "
            "draws). --out keeps one run."
        ),
    )
    _add_job_options(
        few, "fewlabels", [0, 1, 2], 2, "pretraining epochs per objective (default 2)", least=20
    )
    few.add_argument(
        "--labels",
        nargs="+",
        type=_int_in(20, 60000),
        default=[100, 300, 1000, 3000],
        metavar="N",
        help="numbers of labelled images, each at least 20 (default: 100 300 1000 3000)",
    )
    few.add_argument(
        "--objectives",
        nargs="+",
        choices=("plain", "denoising"),
        default=["plain", "denoising"],
        metavar="NAME",
        help="pretraining objectives: plain, denoising (default both)",
    )
    few.add_argument(
        "--steps",
        type=_int_in(10, 10**6),
        default=1000,
        help="optimizer steps per classifier, a multiple of 10, the same for every arm "
        "(default 1000)",
    )
    few.add_argument(
        "--latent-dim", type=_int_in(1, 3136), default=64, help="numbers in the code (default 64)"
    )
    few.set_defaults(run=fewlabels, usage_error=few.error)
    seg = sub.add_parser(
        "segment",
        help="lesson 10 at full size: segmentation with max unpooling, on scenes of any size",
        description=(
            "Train SegNet (max unpooling), its UpSampling2D twin and a U-Net on scenes of "
            "MNIST digits, test each with the same weights on larger and odd-sized scenes, "
            "and print mIoU (mean and min-max over seeds). --out keeps one run, with every "
            "trained model as .keras. The defaults are the recommended full-size run."
        ),
    )
    _add_job_options(seg, "segment", [0, 1, 2], 4, "epochs per run (default 4)")
    seg.add_argument(
        "--models",
        nargs="+",
        # models.SEGMENTATION_KINDS, written out: importing models loads Keras.
        choices=["segnet", "upsample", "unet", "segnet_pool_input"],
        default=["segnet", "upsample", "unet"],
        help="models to train (default: segnet upsample unet; segnet_pool_input is SegNet "
        "unpooling from its pooling inputs instead of stored positions)",
    )
    seg.add_argument(
        "--scenes",
        type=_int_in(1, 10**6),
        default=12000,
        help="training scenes (default 12000)",
    )
    seg.add_argument(
        "--test-scenes",
        type=_int_in(1, 10**5),
        default=300,
        help="test scenes per evaluation size (default 300)",
    )
    seg.add_argument(
        "--size",
        type=_size,
        default=(48, 48),
        metavar="ROWSxCOLS",
        help="training scene size, 48 or 48x64 (default 48x48)",
    )
    seg.add_argument(
        "--digits",
        nargs=2,
        type=_int_in(1, 100),
        default=[1, 3],
        metavar=("LOW", "HIGH"),
        help="digits per training scene, from LOW to HIGH (default 1 3)",
    )
    seg.add_argument(
        "--batch-size", type=_int_in(1, 10**4), default=16, help="scenes per step (default 16)"
    )
    seg.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=1e-3,
        help="Adam's step size (default 0.001)",
    )
    seg.add_argument(
        "--balance",
        type=_fraction,
        default=0.0,
        metavar="POWER",
        help="weight each class's pixels by (median frequency / its frequency) ** POWER, "
        "0 to 1: 1 is SegNet's balancing (default 0: every pixel the same)",
    )
    seg.add_argument(
        "--decay",
        action="store_true",
        help="lower the step size along a cosine to zero over each run (default: constant)",
    )
    seg.add_argument(
        "--eval-sizes",
        nargs="+",
        type=_size,
        default=[(48, 48), (61, 83), (96, 128)],
        metavar="ROWSxCOLS",
        help="test scene sizes, each once (default 48x48 61x83 96x128)",
    )
    seg.add_argument(
        "--devices",
        type=_devices,
        default=None,
        metavar="N|all",
        help="train data-parallel on N devices or all (JAX only; default: one)",
    )
    seg.set_defaults(run=segment, usage_error=seg.error)
    nbs = sub.add_parser("notebooks", help="re-execute the lessons in place")
    nbs.add_argument("paths", nargs="*", help="notebooks (default: notebooks/*.ipynb)")
    nbs.add_argument(
        "--timeout",
        type=_int_in(1, 86400),
        default=900,
        help="seconds per cell (default 900)",
    )
    nbs.add_argument(
        "--verbose", action="store_true", help="show the whole traceback of a failing cell"
    )
    nbs.set_defaults(run=notebooks, usage_error=nbs.error)
    return parser


def _devices(text):
    """An argparse type: a positive number of devices, or `all`."""
    if text == "all":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}")
    return int(text)


def _say(line=""):
    # `training.say`'s twin: importing `training` here would load Keras
    # before the arguments are parsed.
    print(line, flush=True)


def _run(job, args, **settings):
    """`job.run` with the options every job takes; a bad value it finds is a
    usage error naming the flag (from the error's `argument`, not its text)."""
    from cae_keras.checks import ArgumentError

    try:
        return job.run(
            data=args.data,
            out=args.out,
            seeds=args.seeds,
            epochs=args.epochs,
            limit=args.limit,
            log=_say,
            **settings,
        )
    except ArgumentError as error:
        if error.argument is None:  # re-raised by Keras from inside a layer: not a flag
            raise
        raise UsageError("--" + error.argument.replace("_", "-"), error) from None
    except OSError as error:
        raise SystemExit(f"error: --out: cannot write results: {error}") from None


def _wrote(result, what):
    _say(
        f"\nTotal {result['total_seconds']:.1f} s. Wrote {len(result['files'])} files to "
        f"{result['folder']}/ ({what}), named by {Path(result['folder']).parent / 'results.json'}."
    )


def reproduce(args):
    from cae_keras import reproduce as job

    recipes = ["cntk", "ours"] if args.recipe == "both" else [args.recipe]
    result = _run(job, args, variants=args.variants, recipes=recipes)
    _say()
    _say(result["table"])
    if not result["targets_apply"]:
        budget = job.RECIPES["ours"].epochs
        _say("\nNo target for this run: targets apply to the full data, the default recipe")
        _say(f"and its {budget} epochs only.")
    _wrote(result, "table.txt, figures, CNTK's text files")
    missed = [row["variant"] for row in result["summary"] if row["meets_target"] is False]
    return 1 if missed else 0


def anomaly(args):
    from cae_keras import anomaly as job

    result = _run(job, args, digits=args.digits, latent_dim=args.latent_dim)
    _say()
    _say(result["table"])
    _wrote(result, "table.txt")
    return 0


def fewlabels(args):
    from cae_keras import fewlabels as job

    settings = dict(labels=args.labels, objectives=args.objectives, steps=args.steps)
    result = _run(job, args, latent_dim=args.latent_dim, **settings)
    _say()
    _say(result["table"])
    _wrote(result, "table.txt, accuracy.png")
    return 0


def segment(args):
    from cae_keras import segment as job

    result = _run(
        job,
        args,
        models=args.models,
        scenes=args.scenes,
        test_scenes=args.test_scenes,
        size=args.size,
        digits=tuple(args.digits),
        eval_sizes=args.eval_sizes,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        decay=args.decay,
        balance=args.balance,
        devices=args.devices,
    )
    _say()
    _say(result["table"])
    _wrote(result, "table.txt, masks.png, iou.png, one .keras per model and seed")
    return 0


def notebooks(args):
    from cae_keras.notebooks import execute_notebooks

    paths = args.paths or sorted(Path("notebooks").glob("[0-9]*.ipynb"))
    if not paths:
        raise UsageError("paths", "no notebooks given and none in notebooks/")
    try:
        failures = execute_notebooks(paths, timeout=args.timeout, log=_say)
    except ValueError as error:
        raise UsageError("paths", error) from None
    except OSError as error:
        raise SystemExit(f"error: cannot write the executed notebook: {error}") from None
    for failure in failures:
        # One line per failed lesson (the file is as it was); the traceback on request.
        print(f"error: {failure}", file=sys.stderr, flush=True)
        if args.verbose:
            print(failure.details, file=sys.stderr, flush=True)
    if failures and not args.verbose:
        print("(--verbose shows the traceback)", file=sys.stderr, flush=True)
    return 1 if failures else 0


def main(argv=None, prog=None):
    """Parse `argv` (default: the command line), run the command, return its
    exit code."""
    args = build_parser(prog).parse_args(argv)
    import logging

    import cae_keras

    # The backend loads here, after parsing (see `cae_keras.load_backend`).
    cae_keras.load_backend()
    # TensorFlow's Python-side warnings (retracing notes with --limit) are not
    # for this terminal; errors still show.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        # Descriptor 2 stays the terminal's: a native fatal error shows.
        return args.run(args)
    except UsageError as error:
        args.usage_error(str(error))


if __name__ == "__main__":
    sys.exit(main())
