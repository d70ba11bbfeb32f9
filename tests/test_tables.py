"""`tables`: the summaries over seeds and the printed tables every command
shares, against sums done by hand."""

import numpy as np
import pytest

from cae_keras import tables


def test_rows_group_in_first_seen_order_with_mean_lowest_highest():
    rng = np.random.default_rng(0)
    records = [
        {"model": m, "size": s, "seed": seed, "score": float(rng.random()), "params": len(m)}
        for seed in (3, 1, 2)
        for m in ("unet", "segnet")
        for s in (48, 96)
    ]
    rows = tables.summarize(records, ("model", "size"), ("score",), keep=("params",))
    assert [(r["model"], r["size"]) for r in rows] == [
        ("unet", 48),
        ("unet", 96),
        ("segnet", 48),
        ("segnet", 96),
    ]
    for row in rows:
        mine = [
            r["score"] for r in records if (r["model"], r["size"]) == (row["model"], row["size"])
        ]
        assert row["score"] == pytest.approx([np.mean(mine), min(mine), max(mine)])
        assert row["runs"] == 3 and row["seeds"] == [3, 1, 2]
        assert row["params"] == len(row["model"])


def test_seeds_only_where_every_record_has_one():
    rows = tables.summarize([{"k": 1, "x": 2.0, "draw": 0}], ("k",), ("x",))
    assert "seeds" not in rows[0] and rows[0]["x"] == [2.0, 2.0, 2.0]


def test_span_shows_the_range_only_for_several_runs():
    assert tables.span([0.6, 0.58, 0.62], runs=3, range_digits=2) == "0.600 (0.58-0.62)"
    assert tables.span([0.6, 0.6, 0.6], runs=1) == "0.600"
    # Two draws that agree still show that there were two.
    assert tables.span([0.837, 0.837, 0.837], runs=2) == "0.837 (0.837-0.837)"


def test_columns_are_as_wide_as_their_widest_cell():
    text = tables.format_table(
        ["model", "AUC", "verdict"],
        [["a", "0.5", "meets"], ["segnet", "0.25", ""]],
        align="<><",
        note="one seed",
    )
    assert text.splitlines() == [
        "model    AUC  verdict",  # 6 wide (segnet), then 4 (0.25), then 7
        "---------------------",
        "a        0.5  meets",
        "segnet  0.25",
        "one seed",
    ]
