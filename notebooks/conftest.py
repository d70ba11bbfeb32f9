"""nbval settings for the lessons, so that plain `pytest --nbval notebooks` passes.

TensorFlow's C++ log lines reach the kernel's stderr in Jupyter and papermill
but not under pytest, and they differ from machine to machine: stderr is never
compared. Everything else (text/plain, text/html, stdout) is compared exactly;
cells whose output varies from run to run carry the cell tag `nbval-ignore-output`.
"""


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
