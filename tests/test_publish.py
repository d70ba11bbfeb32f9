"""Publishing a run: atomic, results.json last, never mixed, never left behind."""

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


def write_run(out, files, manifest=None):
    with publish.publishing(out) as run:
        for name, text in files.items():
            (run.scratch / name).write_text(text)
        return run.publish(manifest or {"run": "x"})


def test_files_and_manifest_are_published_manifest_listing_them(tmp_path):
    out = tmp_path / "out"
    manifest = write_run(out, {"a.png": "A", "b.txt": "B"}, {"run": 1})
    data = json.loads(manifest.read_text())
    assert data == {"run": 1, "files": ["a.png", "b.txt"]}
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.txt", "results.json"]


def test_manifest_is_moved_in_last(tmp_path, monkeypatch):
    order = []
    real = os.replace

    def recording(src, dst):
        order.append(os.path.basename(dst))
        return real(src, dst)

    monkeypatch.setattr(publish.os, "replace", recording)
    write_run(tmp_path / "out", {"a.png": "A", "z.txt": "Z"})
    assert order[-1] == "results.json" and set(order[:-1]) == {"a.png", "z.txt"}


def test_a_second_run_replaces_the_first_and_leaves_other_files(tmp_path):
    out = tmp_path / "out"
    write_run(out, {"v1_figure.png": "1", "v2_figure.png": "2"}, {"run": 1})
    (out / "my_notes.txt").write_text("mine")
    write_run(out, {"v1_figure.png": "1 again"}, {"run": 2})
    assert sorted(p.name for p in out.iterdir()) == [
        "my_notes.txt",
        "results.json",
        "v1_figure.png",
    ]
    assert (out / "v1_figure.png").read_text() == "1 again"
    assert json.loads((out / "results.json").read_text())["run"] == 2


def test_cross_device_moves_fall_back_to_copy(tmp_path, monkeypatch):
    real = os.replace

    def cross_device(src, dst):
        if publish.SCRATCH_PREFIX in os.path.dirname(str(src)):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst)

    monkeypatch.setattr(publish.os, "replace", cross_device)
    out = tmp_path / "out"
    write_run(out, {"a.png": "A"}, {"run": 1})
    assert (out / "a.png").read_text() == "A"
    assert json.loads((out / "results.json").read_text())["files"] == ["a.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(publish.SCRATCH_PREFIX)]


def test_error_before_publishing_leaves_the_previous_run_untouched(tmp_path):
    out = tmp_path / "out"
    write_run(out, {"a.png": "old"}, {"run": 1})
    with pytest.raises(RuntimeError):
        with publish.publishing(out) as run:
            (run.scratch / "a.png").write_text("new")
            raise RuntimeError("training failed")
    assert (out / "a.png").read_text() == "old"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "results.json"]


def test_nothing_is_written_beside_the_output_folder(tmp_path):
    # A read-only parent works: the scratch folder lives inside `out`.
    out = tmp_path / "out"
    out.mkdir()
    write_run(out, {"a.png": "A"})
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_output_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="'afile' is a file|afile.*is a file"):
        publish.check_output_folder(tmp_path / "afile" / "sub")
    with pytest.raises(ValueError, match="cannot be a folder"):
        publish.check_output_folder(tmp_path / "afile")


# A test runner's worker (pytest-xdist) may ignore SIGINT, and a child
# inherits that; a user's terminal does not, so the child restores Ctrl-C.
SLOW_RUN = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from cae_keras import publish
with publish.publishing(sys.argv[1]) as run:
    (run.scratch / "figure.png").write_text("half")
    print("writing", flush=True)
    time.sleep(120)
    run.publish({})
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_scratch_is_cleaned_on_sigterm_and_sigint(tmp_path, signum):
    out = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SLOW_RUN), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "writing"
    assert list(out.glob(f"{publish.SCRATCH_PREFIX}*"))
    child.send_signal(signum)
    child.wait(timeout=60)
    assert child.returncode != 0
    assert list(out.iterdir()) == []


def test_scratch_of_a_killed_run_is_swept_by_the_next(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out / f"{publish.SCRATCH_PREFIX}killed"
    stale.mkdir()
    (stale / "pid").write_text(str(dead.pid))
    (stale / "figure.png").write_text("half")
    alive = out / f"{publish.SCRATCH_PREFIX}running"
    alive.mkdir()
    (alive / "pid").write_text(str(os.getppid()))  # a process that is still running
    time.sleep(0.1)
    write_run(out, {"a.png": "A"})
    assert not stale.exists()
    assert alive.exists()  # another run still writing: left alone
