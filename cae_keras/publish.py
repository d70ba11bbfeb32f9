"""Writing a job's results so that a run is never lost, half-written or mixed.

Every job that writes a single file (a lesson's `metrics.json`, a re-executed
lesson) goes through `write_file`; every job that writes a folder of results
(the `reproduce`, `anomaly`, `fewlabels` and `segment` commands) goes through
`publishing`. The design, one folder per run and one pointer swapped
atomically:

    out/
      results.json               the pointer: the current run's manifest,
                                 with "folder" naming its folder and "files"
                                 listing exactly the files in it
      run-20261201T162130-1a2b3c/
        results.json             the same manifest, so a folder copied
        table.txt ...            elsewhere still says what it holds

- A run's files are written into a scratch folder `.partial-*` inside `out`
  (so nothing crosses filesystems: a Docker volume or any mount as `--out`
  works, and nothing is written beside `out`: a read-only parent works).
- Publishing renames the finished scratch folder to `run-<time>-<id>`, then
  replaces `out/results.json` with `os.replace`, the one atomic step that
  switches runs, then removes the previous run's folder. Before the switch
  `results.json` names the previous run, whose folder is untouched; after it,
  the new one. A fault at any step (an `OSError` such as a full disk, SIGTERM,
  SIGKILL, a power cut once files are synced) therefore leaves one complete
  run named by `results.json`; leftovers are removed by the next run.
- Each scratch folder has a lock file held with `fcntl.flock` for as long as
  its process lives; the kernel drops the lock when the process ends however
  it ends, so the next run sweeps exactly the scratch of dead runs, with no
  pids involved (every run in a container can be pid 1). Creating scratch,
  sweeping and the switch itself happen under one lock on `out/.lock`, so two
  runs into the same `out` never remove each other's work; the last to switch
  wins, whole. On a filesystem without `flock` (some network mounts) the locks
  are skipped: a single writer is then assumed, and scratch is never swept.
- An error or Ctrl-C removes the scratch folder on the way out (a `finally`
  clause); a run killed outright (SIGTERM, SIGKILL) leaves it to the next run's
  sweep. No signal handler is installed and no process-wide setting (the
  umask) is touched.
"""

import contextlib
import datetime
import errno
import json
import math
import numbers
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from cae_keras.checks import ArgumentError

try:
    import fcntl
except ImportError:  # Windows: no flock; a single writer is assumed.
    fcntl = None

SCRATCH_PREFIX = ".partial-"
RUN_PREFIX = "run-"
_LOCK_SUFFIX = ".lock"
_OUT_LOCK = ".lock"


def _checkpoint(step):
    """Called before each step that changes the filesystem; tests replace it
    to inject a fault (an error, SIGTERM, SIGKILL) at every step in turn."""


def check_output_folder(out, manifest_name="results.json"):
    """`out` as a `Path`, or an `ArgumentError` naming `out` that says why it
    cannot be a folder.

    It may not exist yet, but no part of it may be an existing file, and
    `manifest_name` inside it, if present, must be a file.
    """
    if not str(out).strip():
        raise ArgumentError("out", "expected a folder, got an empty string.")
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise ArgumentError("out", f"{str(out)!r} is a symbolic link to a missing folder.")
    for path in [out, *out.parents]:
        if path.exists():
            if not path.is_dir():
                where = "" if path == out else f" ({str(path)!r} is a file)"
                raise ArgumentError("out", f"{str(out)!r} cannot be a folder{where}.")
            if not os.access(path, os.W_OK | os.X_OK) and path == out:
                raise ArgumentError("out", f"cannot write into {str(out)!r} (no write permission).")
            break
    pointer = out / manifest_name
    if pointer.exists() and not pointer.is_file():
        raise ArgumentError(
            "out",
            f"{str(pointer)!r} must be the results file, but it is a folder: "
            "move it away or choose another output folder.",
        )
    return out


def json_safe(value):
    """`value` with every NaN or infinity replaced by `None`, recursively, so
    `json.dumps(..., allow_nan=False)` writes strict JSON (`NaN` is not JSON,
    and strict readers reject a file that holds it)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return float(value) if math.isfinite(value) else None
    return value


def dumps(value):
    """`value` as strict, indented JSON text (see `json_safe`), newline-ended."""
    return json.dumps(json_safe(value), indent=2, allow_nan=False) + "\n"


def _lock(fd, blocking):
    """Lock `fd` with `flock`: True once held, False if a live process holds
    it, None where the filesystem (or the system) has no `flock`."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            return None
        raise


@contextlib.contextmanager
def _out_locked(out):
    """Hold `out/.lock` for a short step: creating scratch, sweeping, switching."""
    fd = os.open(out / _OUT_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _lock(fd, blocking=True)
        yield
    finally:
        os.close(fd)  # releases the lock


def _fsync(path, directory=False):
    """Flush `path` to the disk, so a power cut after a switch cannot leave a
    pointer to files that never reached it; some filesystems refuse a
    folder's fsync, which then changes nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _is_run_folder(path):
    name = path.name
    return (
        name.startswith(RUN_PREFIX)
        and len(name) == len(RUN_PREFIX) + 22
        and name[len(RUN_PREFIX) + 8] == "T"
        and name[len(RUN_PREFIX) + 15] == "-"
    )


def _read_pointer(out, manifest_name):
    try:
        data = json.loads((out / manifest_name).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def latest(out, manifest_name="results.json"):
    """The folder of the run `out` holds now, or `None` if it holds none.

    Example:

    >>> folder = publish.latest("outputs")            # doctest: +SKIP
    >>> (folder / "table.txt").read_text()            # doctest: +SKIP
    """
    data = _read_pointer(Path(out), manifest_name)
    if data is None or not isinstance(data.get("folder"), str):
        return None
    folder = Path(out) / Path(data["folder"]).name  # a name only: never outside `out`
    return folder if folder.is_dir() else None


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _sweep(out, manifest_name):
    """`sweep` with `out/.lock` already held."""
    current = _read_pointer(out, manifest_name) or {}
    swept = []
    for path in sorted(out.glob(f"{SCRATCH_PREFIX}*")):
        if path.name.endswith(_LOCK_SUFFIX) and not path.is_dir():
            fd = os.open(path, os.O_RDWR)
            try:
                dead = _lock(fd, blocking=False) is True
                if dead:  # its folder here; the lock file itself below
                    _remove(path.with_name(path.name[: -len(_LOCK_SUFFIX)]))
            finally:
                os.close(fd)
        elif path.is_dir():
            # A scratch folder is created with its lock file under `out/.lock`;
            # one without a lock file lost its process before or after that.
            lock = path.with_name(path.name + _LOCK_SUFFIX)
            dead = not lock.exists()
        else:  # a pointer being written, only ever under `out/.lock`
            dead = True
        if dead:
            _remove(path)
            swept.append(path)
    for path in sorted(out.glob(f"{RUN_PREFIX}*")):
        if _is_run_folder(path) and path.is_dir() and path.name != current.get("folder"):
            _remove(path)
            swept.append(path)
    return swept


def sweep(out, manifest_name="results.json"):
    """Remove what dead runs left in `out`: scratch folders no live process
    holds, a half-written pointer, and run folders `results.json` does not
    name. Every run does this before it starts. Returns the paths removed."""
    out = Path(out)
    with _out_locked(out):
        return _sweep(out, manifest_name)


class Run:
    """A run being written: `scratch` is where its files go.

    Attributes:
        out: the output folder.
        scratch: the scratch folder inside it.
        manifest_name: the manifest's file name.
        published: whether `publish` has switched `out` to this run.
        folder: once published, the run's folder inside `out`.
        files: once published, the names of the files in it.
    """

    def __init__(self, out, scratch, manifest_name):
        self.out, self.scratch, self.manifest_name = out, scratch, manifest_name
        self.published, self.folder, self.files = False, None, []

    def publish(self, manifest):
        """Make this run the one `out` holds: `manifest` (a dict) is saved as
        strict JSON with `"folder"` and `"files"` added, in the run's folder
        and as `out/results.json`, whose atomic replacement is the switch.
        Returns the path of `out/results.json`."""
        if self.published:
            raise RuntimeError("this run is already published.")
        files = sorted(p.name for p in self.scratch.iterdir() if p.name != self.manifest_name)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
        name = f"{RUN_PREFIX}{stamp}-{secrets.token_hex(3)}"
        text = dumps({**manifest, "folder": name, "files": files})
        _checkpoint("write manifest")
        (self.scratch / self.manifest_name).write_text(text)
        for path in self.scratch.iterdir():
            _fsync(path, directory=path.is_dir())
        _fsync(self.scratch, directory=True)
        folder, pointer = self.out / name, self.out / self.manifest_name
        temporary = self.out / f"{SCRATCH_PREFIX}{name}-{self.manifest_name}"
        with _out_locked(self.out):
            _checkpoint("rename scratch")
            os.rename(self.scratch, folder)
            try:
                _fsync(self.out, directory=True)
                _checkpoint("write pointer")
                temporary.write_text(text)
                _fsync(temporary)
                _checkpoint("switch")
                os.replace(temporary, pointer)
            except BaseException:
                # Not switched: the previous run stays current; this one goes.
                _remove(temporary)
                _remove(folder)
                raise
            self.published, self.folder, self.files = True, folder, files
            _fsync(self.out, directory=True)
            _checkpoint("remove previous")
            _sweep(self.out, self.manifest_name)
        return pointer


@contextlib.contextmanager
def publishing(out, manifest_name="results.json"):
    """Yield a `Run` whose scratch folder lives inside `out`; clean up always.

    Call `run.publish(manifest)` when every file is in `run.scratch`; if the
    block ends without it (an error, Ctrl-C) nothing is published, the
    scratch folder is removed and the previous run stays as it was; a run
    killed outright (SIGTERM, SIGKILL) leaves its scratch to the next run.
    See the module's docstring for the guarantees.

    Args:
        out: the output folder; made if missing.
        manifest_name: the results file, the pointer to the current run.
            Default `"results.json"`.

    Raises:
        ValueError: `out` cannot be a folder (see `check_output_folder`).

    Example:

    >>> with publish.publishing("outputs") as run:        # doctest: +SKIP
    ...     (run.scratch / "table.txt").write_text(table)
    ...     run.publish({"seeds": [0]})
    """
    out = check_output_folder(out, manifest_name)
    out.mkdir(parents=True, exist_ok=True)
    with _out_locked(out):
        _sweep(out, manifest_name)
        _checkpoint("make scratch")
        scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=out))
        lock = scratch.with_name(scratch.name + _LOCK_SUFFIX)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        _lock(fd, blocking=False)
    run = Run(out, scratch, manifest_name)
    try:
        yield run
    finally:
        if not run.published:
            shutil.rmtree(scratch, ignore_errors=True)
        lock.unlink(missing_ok=True)
        os.close(fd)


def _sweep_temporaries(path, age=60.0):
    """Remove `write_file` temporaries beside `path` that no live process
    holds and that are older than `age` seconds (a writer locks its
    temporary an instant after making it)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            fd = os.open(tmp, os.O_RDWR)
        except OSError:
            continue
        try:
            if _lock(fd, blocking=False) and time.time() - tmp.stat().st_mtime > age:
                tmp.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(fd)


def write_file(path, write, mode=None):
    """Write one file whole or not at all: `write(f)` fills a temporary file
    beside `path`, which then replaces `path` (`os.replace`, atomic).

    Where `path` is a symbolic link, its target is replaced and the link
    stays. The result gets `mode`, or the mode of the file it replaces, or
    (a new file) the usual 0666 less the umask. A temporary left by a killed
    writer is removed by a later one.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    if mode is None and path.exists():
        mode = path.stat().st_mode & 0o7777
    _sweep_temporaries(path)
    _checkpoint("write temporary")
    # Created 0666 less the umask by the kernel itself, as a new file would be.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _lock(fd, blocking=False)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            _checkpoint("switch")
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync(path.parent, directory=True)
    return path
