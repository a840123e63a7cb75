"""The embedded DuckDB store as a server uses it: reads on per-thread cursors beside the writer."""

from __future__ import annotations

import threading
from pathlib import Path

from vkurse_stats.store.duckdb import DuckDBStore


def test_reads_of_threads_that_ended_leave_no_cursor_behind(tmp_path: Path) -> None:
    """A server's thread pool ends idle threads and starts new ones: cursors are bounded by the
    threads alive at once, not by every thread that ever read."""
    store = DuckDBStore(tmp_path / "a.duckdb")
    try:
        for _ in range(5):
            threads = [threading.Thread(target=store.rows, args=("SELECT 1",)) for _ in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert len(store._cursors) <= 20 + 1  # the last round's and this thread's
    finally:
        store.close()


def test_a_read_does_not_wait_for_a_write_in_progress(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "a.duckdb")
    try:
        store.meta_set("k", "before")
        inside, release = threading.Event(), threading.Event()
        seen: list[object] = []

        def write() -> None:
            with store.transaction():
                store.meta_set("k", "during")  # not committed while the read runs
                inside.set()
                release.wait(30)

        def read() -> None:
            seen.append(store.meta_get("k"))

        writer = threading.Thread(target=write)
        writer.start()
        inside.wait()
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=30)
        finished = not reader.is_alive()
        release.set()
        writer.join()
        assert finished and seen == ["before"]  # a committed snapshot, at once
        assert store.meta_get("k") == "during"
    finally:
        store.close()


def test_unapplied_notes_of_an_older_store_move_to_their_table(tmp_path: Path) -> None:
    """A store written when the notes lived in store_meta keeps them: the next start still
    rebuilds those companies, and the notes are then cleared like new ones."""
    path = tmp_path / "analytics.duckdb"
    store = DuckDBStore(path)
    store.con.execute("INSERT INTO store_meta VALUES ('unapplied:acme', '1'), ('unapplied:beta', '1')")
    store.close()
    store = DuckDBStore(path)
    assert store.unapplied() == ["acme", "beta"]
    assert store.rows("SELECT count(*) FROM store_meta WHERE starts_with(key, 'unapplied:')") == [(0,)]
    store.mark_unapplied({"acme", "gamma"})
    assert store.unapplied() == ["acme", "beta", "gamma"]
    store.clear_unapplied({"acme", "beta"})
    assert store.unapplied() == ["gamma"]
    store.close()
    assert DuckDBStore(path).unapplied() == ["gamma"]
