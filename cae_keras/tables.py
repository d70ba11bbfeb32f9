"""Rows over seeds, and the plain-text tables the commands print.

Each command records one dict per run. `summarize` groups the runs into rows
and gives each value's mean and range; `format_table` lays the cells out, the
same way for every command.
"""

import statistics


def summarize(records, by, values, keep=()):
    """Group per-run records into rows, with each value's mean and range.

    Args:
        records: dicts, one per run.
        by: the keys whose values name a row. Rows keep the order in which
            they first appear.
        values: the keys of numbers to summarize: each becomes
            `[mean, lowest, highest]` over the row's runs.
        keep: keys that are the same for every run of a row (a model's
            parameter count): copied from its first run.

    Returns:
        A list of dicts with the `by` and `keep` keys, `runs` (how many),
        `seeds` (where every record has a `seed`) and each of `values`.

    Example:

    >>> summarize([{"m": "a", "x": 1.0}, {"m": "a", "x": 3.0}], ["m"], ["x"])
    [{'m': 'a', 'runs': 2, 'x': [2.0, 1.0, 3.0]}]
    """
    groups = {}
    for record in records:
        groups.setdefault(tuple(record[key] for key in by), []).append(record)
    rows = []
    for name, runs in groups.items():
        row = dict(zip(by, name, strict=True)) | {key: runs[0][key] for key in keep}
        row["runs"] = len(runs)
        if all("seed" in run for run in runs):
            row["seeds"] = [run["seed"] for run in runs]
        for key in values:
            numbers = [run[key] for run in runs]
            row[key] = [statistics.mean(numbers), min(numbers), max(numbers)]
        rows.append(row)
    return rows


def span(spread, runs, digits=3, range_digits=None):
    """`[mean, lowest, highest]` as `"mean (lowest-highest)"`, or the mean
    alone for one run.

    Example:

    >>> span([0.5, 0.25, 0.75], runs=2), span([0.5, 0.5, 0.5], runs=1)
    ('0.500 (0.250-0.750)', '0.500')
    """
    mean, low, high = spread
    if runs == 1:
        return f"{mean:.{digits}f}"
    r = digits if range_digits is None else range_digits
    return f"{mean:.{digits}f} ({low:.{r}f}-{high:.{r}f})"


def format_table(header, rows, align=None, note=None):
    """Cells as a plain-text table.

    Columns are two spaces apart, each as wide as its widest cell, with a
    rule under the header and `note` as a last line.

    Args:
        header: the column names.
        rows: lists of cells, one per line (anything `str` can print).
        align: one `"<"` (left) or `">"` (right) per column. Default: the
            first column left, the others right.
        note: a line under the table, or `None`.

    Example:

    >>> print(format_table(["model", "params"], [["a", 51], ["bb", 506]]))
    model  params
    -------------
    a          51
    bb        506
    """
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    align = align or "<" + ">" * (len(header) - 1)
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row):
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(row, align, widths, strict=True))

    head = line(cells[0]).rstrip()
    lines = [head, "-" * len(head), *(line(row).rstrip() for row in cells[1:])]
    return "\n".join(lines + ([note] if note else []))
