"""Writing a job's results so that a run is never lost, half-written or mixed.

Every job that writes a single file (a lesson's `metrics.json`, a re-executed
lesson, `anomaly --json`) goes through `write_file`; every job that writes a
folder of results (`python -m cae_keras reproduce`) goes through `publishing`:

- The files are written into a scratch folder *inside* the output folder, so
  moving them into place never crosses filesystems (a Docker volume or any
  mount as `--out` works) and nothing is written beside the output folder (a
  read-only parent works).
- Publishing removes the previous run's manifest first, then the previous
  run's files that this run does not rewrite, moves the new files in one by
  one (`os.replace`, atomic per file), and writes the new manifest last. The
  output folder therefore holds one run: a manifest always lists exactly the
  files beside it. Files that no manifest lists are left alone.
- The scratch folder is removed on success, on error, on Ctrl-C (SIGINT) and
  on SIGTERM; one left by a killed process (SIGKILL, power loss) is swept by
  the next run into the same folder, once its process is gone.
"""

import contextlib
import errno
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

SCRATCH_PREFIX = ".partial-"
_PID_FILE = "pid"


def check_output_folder(out):
    """`out` as a `Path`, or a `ValueError` saying why it cannot be a folder.

    It may not exist yet, but no part of it may be an existing file.
    """
    out = Path(out)
    for path in [out, *out.parents]:
        if path.exists():
            if not path.is_dir():
                where = "" if path == out else f" ({str(path)!r} is a file)"
                raise ValueError(f"{str(out)!r} cannot be a folder{where}.")
            break
    return out


def check_output_file(path):
    """`path` as a `Path`, or a `ValueError` saying why no file can be written
    there: it is empty, names a folder, or its folder is missing or read-only.

    Checked before a job's work, so a bad path costs nothing.
    """
    if not str(path).strip():
        raise ValueError("expected a file name, got an empty string.")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, expected a file name.")
    folder = path.resolve().parent
    if not folder.is_dir():
        raise ValueError(f"no folder to write {str(path)!r} into ({str(folder)!r} is missing).")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write into {str(folder)!r} (no write permission).")
    return path


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep(out):
    """Remove scratch folders in `out` whose process has ended. Returns them."""
    swept = []
    for scratch in Path(out).glob(f"{SCRATCH_PREFIX}*"):
        try:
            pid = int((scratch / _PID_FILE).read_text())
        except (OSError, ValueError):
            pid = None
        if pid is None or (pid != os.getpid() and not _process_alive(pid)):
            shutil.rmtree(scratch, ignore_errors=True)
            swept.append(scratch)
    return swept


def _move(source, target):
    """`os.replace`, or copy-then-replace where the two are on different filesystems."""
    try:
        os.replace(source, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        temporary = target.with_name(f"{SCRATCH_PREFIX}{target.name}")
        shutil.copy2(source, temporary)
        os.replace(temporary, target)


class Run:
    """A run being written: `scratch` is where its files go.

    Attributes:
        out: the output folder.
        scratch: the scratch folder inside it.
        manifest_name: the manifest's file name, written last.
        files: once published, the names of the files the manifest lists.
    """

    def __init__(self, out, scratch, manifest_name):
        self.out, self.scratch, self.manifest_name = out, scratch, manifest_name
        self.published, self.files = False, []

    def publish(self, manifest):
        """Move the scratch files into `out`, then write `manifest` (a dict,
        saved as JSON with a `"files"` list added) last."""
        files = sorted(
            p.name
            for p in self.scratch.iterdir()
            if p.is_file() and p.name not in (_PID_FILE, self.manifest_name)
        )
        old_manifest = self.out / self.manifest_name
        old_files = []
        if old_manifest.exists():
            try:
                old_files = list(json.loads(old_manifest.read_text()).get("files", []))
            except (OSError, ValueError, AttributeError):
                old_files = []
            # From here on no manifest claims the old files.
            old_manifest.unlink()
        for name in set(old_files) - set(files):
            path = self.out / Path(name).name  # names only: never outside `out`
            if path.is_file():
                path.unlink()
        for name in files:
            _move(self.scratch / name, self.out / name)
        text = json.dumps({**manifest, "files": files}, indent=2) + "\n"
        (self.scratch / self.manifest_name).write_text(text)
        _move(self.scratch / self.manifest_name, old_manifest)
        self.published, self.files = True, files
        return self.out / self.manifest_name


def _raise_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def publishing(out, manifest_name="results.json"):
    """Yield a `Run` whose scratch folder lives inside `out`; clean up always.

    Call `run.publish(manifest)` when every file is in `run.scratch`; if the
    block ends without it (an error, Ctrl-C, SIGTERM) nothing is published
    and the previous run's files stay as they were.

    Args:
        out: the output folder; made if missing.
        manifest_name: the file written last. Default `"results.json"`.

    Raises:
        ValueError: `out` cannot be a folder (see `check_output_folder`).
    """
    out = check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    sweep(out)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=out))
    (scratch / _PID_FILE).write_text(str(os.getpid()))
    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM's default kills without cleanup: turn it into an exit that
        # runs `finally`, as Ctrl-C's KeyboardInterrupt does.
        previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        yield Run(out, scratch, manifest_name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def write_file(path, write, mode=None):
    """Write one file whole or not at all: `write(f)` fills a temporary file
    beside `path`, which then replaces `path` (`os.replace`, atomic).

    `mkstemp` makes the temporary file private (0600); the result gets `mode`,
    or the mode of the file it replaces, or the usual 0666 less the umask.
    """
    path = Path(path)
    if mode is None:
        if path.exists():
            mode = path.stat().st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            write(f)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
