"""The replace rule (store/schema.py), which every backend applies: a later version replaces an
earlier one of its record, unless it lacks the terminal field the earlier one has."""

from __future__ import annotations

import pyarrow as pa

from vkurse_stats.store.schema import TABLES, latest_per_key, outranked, version_rank

CONN = TABLES["connection"]


def versions(rows: list[tuple[str, int, int | None]]) -> pa.Table:
    """(id, seq, left_at) rows of company acme."""
    return pa.table(
        {
            "company_id": ["acme"] * len(rows),
            "id": [r[0] for r in rows],
            "seq": pa.array([r[1] for r in rows], pa.int64()),
            "left_at": pa.array([r[2] for r in rows], pa.int64()),
        }
    )


def test_a_closed_version_outranks_a_later_open_one() -> None:
    ranks = version_rank(versions([("a", 1, 100), ("a", 2, None), ("a", 3, 200)]), CONN)
    assert ranks[0] > ranks[1] and ranks[2] > ranks[0]


def test_the_record_of_a_batch_is_its_highest_ranked_version() -> None:
    batch = versions([("a", 1, 100), ("a", 2, None), ("b", 3, None), ("b", 4, None), ("c", 5, 7)])
    latest = latest_per_key(batch, CONN)
    assert sorted(zip(latest.column("id").to_pylist(), latest.column("seq").to_pylist(), strict=True)) == [
        ("a", 1),
        ("b", 4),
        ("c", 5),
    ]


def test_a_stored_closed_version_stays_against_a_new_open_one() -> None:
    stored = versions([("a", 1, 100), ("b", 2, None), ("c", 3, 50)])
    new = versions([("a", 10, None), ("b", 11, None), ("c", 12, 60)])
    assert outranked(stored, new, CONN).column("id").to_pylist() == ["a"]
    # A kind without a terminal field: the latest arrival always wins.
    msgs = pa.table({"company_id": ["acme"], "id": ["m"], "seq": pa.array([1], pa.int64())})
    assert outranked(msgs, msgs, TABLES["message"]).num_rows == 0
