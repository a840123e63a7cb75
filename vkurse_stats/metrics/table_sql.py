"""What the dashboard's tables hold, as SQL: one query per table with each dialect side by side.

These are product rules (an event of a range is one created or held in it; a planned event is
scheduled after now and not cancelled; disk usage counts the files not deleted now; devices come
from logins), so they live beside the metrics and the table definitions (tables.py), written
once; a store only runs the text of its dialect (``AnalyticStore.table_page``). Both dialects
read the same parameters: company, t0/t1 (the range's instants), now, search (folded), templates
(the event types whose name matched the search); ``{stats}`` is the store's event stats.
"""

from __future__ import annotations

from ..store.base import TableQuery

_DUCKDB_SEARCH = "($search = '' OR {cols})"


def _duckdb_search(*cols: str) -> str:
    """Literal, case-insensitive search (``%`` and ``_`` are text); ``$search`` comes lower-cased
    with ё folded to е (see Query), and so is each column."""
    return _DUCKDB_SEARCH.format(
        cols=" OR ".join(f"contains(replace(lower(coalesce({c}, '')), 'ё', 'е'), $search)" for c in cols)
    )


def _clickhouse_search(*cols: str) -> str:
    # Literal (``%`` and ``_`` are text); the search comes lower-cased with ё folded to е.
    like = " OR ".join(
        f"positionUTF8(replaceAll(lowerUTF8(coalesce({c}, '')), 'ё', 'е'), {{search:String}}) > 0" for c in cols
    )
    return f"({{search:String}} = '' OR {like})"


TABLE_QUERIES: dict[str, TableQuery] = {
    "events": TableQuery(
        duckdb=f"""
        WITH ev AS (SELECT * FROM events WHERE company_id = $company),
        ps AS ({{stats}}),
        j AS (
            SELECT coalesce(ev.id, ps.parent_id) AS id, ev.title, coalesce(ev.template, ps.template) AS template,
                   ev.organizer_id, ev.created_at, ev.scheduled_start, ev.cancelled_at, ps.first_join,
                   ps.last_leave, ps.participants, ps.connections, ps.peak, ps.peak_at
            FROM ev FULL OUTER JOIN ps ON ev.id = ps.parent_id)
        SELECT j.id, j.title, j.template, j.organizer_id, u.name AS organizer_name, j.created_at,
               j.scheduled_start, j.first_join, j.last_leave,
               (j.last_leave - j.first_join) // 1000000 AS duration_s,
               coalesce(j.participants, 0) AS participants, coalesce(j.connections, 0) AS connections,
               coalesce(j.peak, 0) AS peak, j.peak_at
        FROM j LEFT JOIN users u ON u.company_id = $company AND u.id = j.organizer_id
        WHERE ((j.created_at >= $t0 AND j.created_at < $t1) OR (j.first_join >= $t0 AND j.first_join < $t1))
          AND ({_duckdb_search("j.title", "j.id", "j.organizer_id", "u.name")}
               OR list_contains($templates::TINYINT[], j.template))""",
        clickhouse=f"""
        SELECT j.id AS id, j.title AS title, j.template AS template, j.organizer_id AS organizer_id,
               u.name AS organizer_name, j.created_at AS created_at, j.scheduled_start AS scheduled_start,
               j.first_join AS first_join, j.last_leave AS last_leave,
               intDiv(j.last_leave - j.first_join, 1000000) AS duration_s,
               coalesce(j.participants, 0) AS participants, coalesce(j.connections, 0) AS connections,
               coalesce(j.peak, 0) AS peak, j.peak_at AS peak_at
        FROM (
            SELECT coalesce(ev.id, ps.parent_id) AS id, ev.title AS title,
                   coalesce(ev.template, ps.template) AS template, ev.organizer_id AS organizer_id,
                   ev.created_at AS created_at, ev.scheduled_start AS scheduled_start,
                   ps.first_join AS first_join, ps.last_leave AS last_leave, ps.participants AS participants,
                   ps.connections AS connections, ps.peak AS peak, ps.peak_at AS peak_at
            FROM (SELECT id, title, template, organizer_id, created_at, scheduled_start
                  FROM events FINAL WHERE company_id = {{company:String}}) AS ev
            FULL OUTER JOIN ({{stats}}) AS ps
            ON ev.id = ps.parent_id) AS j
        LEFT JOIN (SELECT id, name FROM users FINAL WHERE company_id = {{company:String}}) AS u
            ON u.id = j.organizer_id
        WHERE ((j.created_at >= {{t0:Int64}} AND j.created_at < {{t1:Int64}})
               OR (j.first_join >= {{t0:Int64}} AND j.first_join < {{t1:Int64}}))
          AND ({_clickhouse_search("j.title", "j.id", "j.organizer_id", "u.name")}
               OR has({{templates:Array(Int8)}}, j.template))""",
        tie="id",
    ),
    "planned": TableQuery(
        duckdb=f"""
        SELECT e.organizer_id, any_value(u.name) AS organizer_name, count(*) AS planned,
               arg_min(e.id, (e.scheduled_start, e.id)) AS next_id,
               arg_min(e.title, (e.scheduled_start, e.id)) AS next_title,
               min(e.scheduled_start) AS next_start
        FROM events e LEFT JOIN users u ON u.company_id = $company AND u.id = e.organizer_id
        WHERE e.company_id = $company AND e.scheduled_start > $now AND e.cancelled_at IS NULL
          AND {_duckdb_search("e.organizer_id", "u.name")}
        GROUP BY e.organizer_id""",
        clickhouse=f"""
        SELECT e.organizer_id AS organizer_id, any(u.name) AS organizer_name, count() AS planned,
               argMin(e.id, (e.scheduled_start, e.id)) AS next_id,
               argMin(e.title, (e.scheduled_start, e.id)) AS next_title,
               min(e.scheduled_start) AS next_start
        FROM (SELECT id, title, organizer_id, scheduled_start FROM events FINAL
              WHERE company_id = {{company:String}} AND scheduled_start > {{now:Int64}} AND cancelled_at IS NULL) AS e
        LEFT JOIN (SELECT id, name FROM users FINAL WHERE company_id = {{company:String}}) AS u
            ON u.id = e.organizer_id
        WHERE {_clickhouse_search("e.organizer_id", "u.name")}
        GROUP BY e.organizer_id""",
        tie="organizer_id",
    ),
    "disk": TableQuery(
        duckdb=f"""
        SELECT f.owner_id, any_value(u.name) AS owner_name, sum(f.size_bytes)::BIGINT AS bytes, count(*) AS files
        FROM files f LEFT JOIN users u ON u.company_id = $company AND u.id = f.owner_id
        WHERE f.company_id = $company AND f.uploaded_at <= $now AND (f.deleted_at IS NULL OR f.deleted_at > $now)
          AND {_duckdb_search("f.owner_id", "u.name")}
        GROUP BY f.owner_id""",
        clickhouse=f"""
        SELECT f.owner_id AS owner_id, any(u.name) AS owner_name, toInt64(sum(f.size_bytes)) AS bytes,
               count() AS files
        FROM (SELECT owner_id, size_bytes FROM files FINAL WHERE company_id = {{company:String}}
              AND uploaded_at <= {{now:Int64}} AND (deleted_at IS NULL OR deleted_at > {{now:Int64}})) AS f
        LEFT JOIN (SELECT id, name FROM users FINAL WHERE company_id = {{company:String}}) AS u
            ON u.id = f.owner_id
        WHERE {_clickhouse_search("f.owner_id", "u.name")}
        GROUP BY f.owner_id""",
        tie="owner_id",
    ),
    "devices": TableQuery(
        duckdb=f"""
        SELECT coalesce(client, 'unknown') AS client, coalesce(device, '') AS device,
               count(DISTINCT user_id) AS users, count(*) AS logins
        FROM logins WHERE company_id = $company AND "at" >= $t0 AND "at" < $t1
          AND {_duckdb_search("client", "device")}
        GROUP BY 1, 2""",
        clickhouse=f"""
        SELECT coalesce(l.client, 'unknown') AS client, coalesce(l.device, '') AS device,
               uniqExact(l.user_id) AS users, count() AS logins
        FROM (SELECT client, device, user_id FROM logins FINAL WHERE company_id = {{company:String}}
              AND at >= {{t0:Int64}} AND at < {{t1:Int64}}) AS l
        WHERE {_clickhouse_search("l.client", "l.device")}
        GROUP BY coalesce(l.client, 'unknown'), coalesce(l.device, '')""",
        tie="client, device",
    ),
}
