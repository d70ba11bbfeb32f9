"""Publishing a run: one folder per run, one atomic switch, nothing lost at any fault."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cae_keras import publish

PUBLISH_STEPS = ["make scratch", "write manifest", "rename scratch", "write pointer", "switch"]
AFTER_SWITCH = ["remove previous"]


def write_run(out, files, manifest=None):
    with publish.publishing(out) as run:
        for name, text in files.items():
            (run.scratch / name).write_text(text)
        return run.publish(manifest or {"run": "x"})


def current(out):
    """The run `out` holds: its manifest and its files' texts, checked to agree."""
    pointer = json.loads((out / "results.json").read_text())
    folder = publish.latest(out)
    assert folder is not None and folder.name == pointer["folder"]
    assert json.loads((folder / "results.json").read_text()) == pointer
    listed = sorted(p.name for p in folder.iterdir() if p.name != "results.json")
    assert listed == pointer["files"]
    return pointer, {name: (folder / name).read_text() for name in listed}


def leftovers(out, keep=()):
    """Everything in `out` but the pointer, its lock, the current run and `keep`."""
    folder = publish.latest(out)
    return sorted(
        p.name
        for p in out.iterdir()
        if p.name not in ("results.json", ".lock", *keep) and p != folder
    )


OLD = {"v1_figure.png": "old figure", "table.txt": "old table"}
NEW = {"v2_figure.png": "new figure", "table.txt": "new table"}


def test_a_run_is_one_folder_named_by_results_json(tmp_path):
    out = tmp_path / "out"
    write_run(out, {"a.png": "A", "b.txt": "B"}, {"run": 1})
    manifest, files = current(out)
    assert manifest["run"] == 1 and manifest["files"] == ["a.png", "b.txt"]
    assert files == {"a.png": "A", "b.txt": "B"}
    assert manifest["folder"].startswith("run-")
    assert leftovers(out) == []


def test_a_second_run_replaces_the_first_and_leaves_other_files(tmp_path):
    out = tmp_path / "out"
    write_run(out, OLD, {"run": 1})
    (out / "my_notes.txt").write_text("mine")
    write_run(out, NEW, {"run": 2})
    manifest, files = current(out)
    assert manifest["run"] == 2 and files == NEW
    assert leftovers(out) == ["my_notes.txt"]


def test_error_before_publishing_leaves_the_previous_run_untouched(tmp_path):
    out = tmp_path / "out"
    write_run(out, OLD, {"run": 1})
    with pytest.raises(RuntimeError):
        with publish.publishing(out) as run:
            (run.scratch / "table.txt").write_text("new")
            raise RuntimeError("training failed")
    assert current(out) == (current(out)[0], OLD)
    assert leftovers(out) == []


def test_nothing_is_written_beside_the_output_folder(tmp_path):
    # A read-only parent works: the scratch folder lives inside `out`.
    out = tmp_path / "out"
    out.mkdir()
    write_run(out, {"a.png": "A"})
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_output_folder_under_a_file_or_a_results_folder_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="'afile' is a file|afile.*is a file"):
        publish.check_output_folder(tmp_path / "afile" / "sub")
    with pytest.raises(ValueError, match="cannot be a folder"):
        publish.check_output_folder(tmp_path / "afile")
    with pytest.raises(ValueError, match="empty string"):
        publish.check_output_folder("")
    (tmp_path / "out" / "results.json").mkdir(parents=True)
    with pytest.raises(ValueError, match="results.json.*is a folder"):
        publish.check_output_folder(tmp_path / "out")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    with pytest.raises(ValueError, match="symbolic link to a missing folder"):
        publish.check_output_folder(tmp_path / "dangling")


def test_files_outside_run_folders_are_never_touched(tmp_path):
    # Whatever an older results.json listed, files beside the run folders are
    # the user's: the next run neither removes nor rewrites them.
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_text("old")
    (out / "results.json").write_text(json.dumps({"files": ["a.png"]}))
    write_run(out, NEW)
    assert current(out)[1] == NEW
    assert leftovers(out) == ["a.png"] and (out / "a.png").read_text() == "old"


def test_publishing_installs_no_signal_handler_and_leaves_the_umask(tmp_path, monkeypatch):
    def no_umask(*args):
        raise AssertionError("os.umask changes a setting of the whole process")

    monkeypatch.setattr(publish.os, "umask", no_umask)
    before = signal.getsignal(signal.SIGTERM)
    with publish.publishing(tmp_path / "out") as run:
        assert signal.getsignal(signal.SIGTERM) is before
        publish.write_file(run.scratch / "a.txt", lambda f: f.write("A"))
        run.publish({})
    assert current(tmp_path / "out")[1] == {"a.txt": "A"}


def test_a_new_file_gets_0666_less_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        publish.write_file(tmp_path / "new.json", lambda f: f.write("{}"))
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640


def test_nan_in_a_manifest_is_written_as_strict_json_null(tmp_path):
    out = tmp_path / "out"
    write_run(out, {"a.png": "A"}, {"rmse": float("nan"), "best": [1.5, float("inf")]})
    text = (out / "results.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert data["rmse"] is None and data["best"] == [1.5, None]


# Fault injection: a fault at every step that changes the filesystem. Before
# the switch the previous run must be current and whole; after it, the new.
FAULTS = {
    "ENOSPC": lambda: OSError(errno.ENOSPC, "No space left on device"),
    "SystemExit": lambda: SystemExit(1),  # a job that calls sys.exit
    "Ctrl-C": lambda: KeyboardInterrupt(),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("step", PUBLISH_STEPS + AFTER_SWITCH)
def test_a_fault_at_any_step_leaves_one_whole_run(tmp_path, monkeypatch, step, fault):
    out = tmp_path / "out"
    write_run(out, OLD, {"run": 1})

    def checkpoint(name):
        if name == step:
            raise FAULTS[fault]()

    monkeypatch.setattr(publish, "_checkpoint", checkpoint)
    with pytest.raises(BaseException) as caught:
        write_run(out, NEW, {"run": 2})
    assert caught.type is type(FAULTS[fault]())
    manifest, files = current(out)
    assert (manifest["run"], files) == ((1, OLD) if step in PUBLISH_STEPS else (2, NEW))
    monkeypatch.undo()
    write_run(out, {"c.txt": "C"}, {"run": 3})  # the next run sweeps what is left
    assert current(out)[1] == {"c.txt": "C"} and leftovers(out) == []


def _count_calls(monkeypatch, fail_at=None):
    """Patch `os.replace` and `os.rename` to count calls and fail at one."""
    calls = []
    real = {"replace": os.replace, "rename": os.rename}

    def patched(kind):
        def call(src, dst, *args, **kwargs):
            calls.append(kind)
            if len(calls) == fail_at:
                raise OSError(errno.EISDIR, "Is a directory", str(dst))
            return real[kind](src, dst, *args, **kwargs)

        return call

    for kind in real:
        monkeypatch.setattr(publish.os, kind, patched(kind))
    return calls


def test_a_failing_rename_or_replace_at_each_call_leaves_one_whole_run(tmp_path, monkeypatch):
    out = tmp_path / "counted"
    write_run(out, OLD, {"run": 1})
    calls = _count_calls(monkeypatch)
    write_run(out, NEW, {"run": 2})
    monkeypatch.undo()
    assert calls == ["rename", "replace"]  # the folder in, then the switch
    for k in range(1, len(calls) + 1):
        out = tmp_path / f"fail_at_{k}"
        write_run(out, OLD, {"run": 1})
        _count_calls(monkeypatch, fail_at=k)
        with pytest.raises(OSError, match="Is a directory"):
            write_run(out, NEW, {"run": 2})
        monkeypatch.undo()
        assert current(out) == (current(out)[0], OLD) and current(out)[0]["run"] == 1
        assert leftovers(out) == []


# The children load publish.py alone (it needs only the standard library), so
# each starts in milliseconds instead of loading Keras with the package.
# Publishing needs no backend: the children take Keras' NumPy backend, the
# quickest to import (`cae_keras` loads one), so each fault costs less time.
LOAD_PUBLISH = f"""
import importlib.util, os
os.environ["KERAS_BACKEND"] = "numpy"
_spec = importlib.util.spec_from_file_location("publish", {publish.__file__!r})
publish = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(publish)
"""

# A test runner's worker (pytest-xdist) may ignore SIGINT, and a child
# inherits that; a user's terminal does not, so the child restores Ctrl-C.
CHILD = (
    """
import json, os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
"""
    + LOAD_PUBLISH
    + """
out, (action, step), files = sys.argv[1], sys.argv[2].split(":"), json.loads(sys.argv[3])

def checkpoint(name):
    if name == step:
        print("at", name, flush=True)
        if action == "wait":  # there, to be signalled
            time.sleep(120)
        os.kill(os.getpid(), signal.SIGKILL)

publish._checkpoint = checkpoint
with publish.publishing(out) as run:
    for name, text in files.items():
        (run.scratch / name).write_text(text)
    run.publish({"run": 2})
"""
)


def _child(out, step, files=NEW):
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(out), step, json.dumps(files)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("step", PUBLISH_STEPS + AFTER_SWITCH)
def test_sigkill_at_any_step_leaves_one_whole_run_and_the_next_sweeps(tmp_path, step):
    out = tmp_path / "out"
    write_run(out, OLD, {"run": 1})
    child = _child(out, f"kill:{step}")
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    manifest, files = current(out)
    assert (manifest["run"], files) == ((1, OLD) if step in PUBLISH_STEPS else (2, NEW))
    write_run(out, {"c.txt": "C"}, {"run": 3})
    assert current(out)[1] == {"c.txt": "C"} and leftovers(out) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_run_signalled_while_writing_leaves_the_previous_run(tmp_path, signum):
    out = tmp_path / "out"
    write_run(out, OLD, {"run": 1})
    child = _child(out, "wait:write manifest")
    assert child.stdout.readline().strip() == "at write manifest"
    assert [p for p in out.iterdir() if p.name.startswith(publish.SCRATCH_PREFIX)]
    another = _child(out, "wait:write manifest")  # a second run into the same folder
    assert another.stdout.readline().strip() == "at write manifest"
    child.send_signal(signum)
    child.wait(timeout=60)
    assert child.returncode != 0
    assert current(out)[1] == OLD
    # The next run sweeps the dead run's scratch, whatever its pid, and
    # leaves the live one's alone.
    write_run(out, {"c.txt": "C"}, {"run": 3})
    assert len(leftovers(out)) == 2  # the live run's scratch folder and lock
    another.kill()
    another.wait(timeout=60)
    publish.sweep(out)
    assert current(out)[1] == {"c.txt": "C"} and leftovers(out) == []


def test_two_runs_publishing_into_one_folder_leave_one_whole_run(tmp_path):
    out = tmp_path / "out"
    script = LOAD_PUBLISH + textwrap.dedent(
        """
        import sys
        for i in range(20):
            with publish.publishing(sys.argv[1]) as run:
                for j in range(5):
                    (run.scratch / f"{sys.argv[2]}{j}.txt").write_text(f"{sys.argv[2]} {i}")
                run.publish({"writer": sys.argv[2], "i": i})
        """
    )
    children = [subprocess.Popen([sys.executable, "-c", script, str(out), name]) for name in "ab"]
    assert [c.wait(timeout=120) for c in children] == [0, 0]
    manifest, files = current(out)
    assert manifest["i"] == 19 and len(set(files.values())) == 1
    assert leftovers(out) == []


# write_file: one file, whole or not at all.
def test_write_file_replaces_whole_and_keeps_the_mode(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("old")
    path.chmod(0o640)
    publish.write_file(path, lambda f: f.write("new"))
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_write_file_writes_through_a_symbolic_link(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    publish.write_file(link, lambda f: f.write("new"))
    assert link.is_symlink() and target.read_text() == "new"


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("step", ["write temporary", "switch"])
def test_write_file_fault_at_any_step_keeps_the_old_file(tmp_path, monkeypatch, step, fault):
    path = tmp_path / "m.json"
    path.write_text("old")

    def checkpoint(name):
        if name == step:
            raise FAULTS[fault]()

    monkeypatch.setattr(publish, "_checkpoint", checkpoint)
    with pytest.raises(type(FAULTS[fault]())):
        publish.write_file(path, lambda f: f.write("new"))
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["m.json"]


WRITE_CHILD = (
    """
import os, signal, sys
"""
    + LOAD_PUBLISH
    + """
publish._checkpoint = lambda name: name == sys.argv[2] and os.kill(os.getpid(), signal.SIGKILL)
publish.write_file(sys.argv[1], lambda f: f.write("new"))
"""
)


@pytest.mark.parametrize("step", ["write temporary", "switch"])
def test_write_file_sigkill_keeps_the_old_file_and_a_later_write_sweeps(tmp_path, step):
    path = tmp_path / "m.json"
    path.write_text("old")
    child = subprocess.run([sys.executable, "-c", WRITE_CHILD, str(path), step])
    assert child.returncode == -signal.SIGKILL
    assert path.read_text() == "old"
    for stale in tmp_path.glob(".m.json.*.tmp"):
        os.utime(stale, (time.time() - 3600,) * 2)  # a killed writer's, an hour ago
    publish.write_file(path, lambda f: f.write("newer"))
    assert path.read_text() == "newer" and [p.name for p in tmp_path.iterdir()] == ["m.json"]
