"""Licence insight over HTTP (SPEC 4a): breaches of a range, what was active at an instant, and
a day's curve. Readers as for the other API reads; the figures come from ``metrics`` (the
range's from the rollups, an instant's and a day's from that instant's or day's connections)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.requests import Request

from ..metrics.activity import PEAKS
from ..metrics.insight import LIMITED
from .api import ERRORS, CompanyQ, FromQ, ToQ, _reader
from .auth import services_of
from .errors import ApiError
from .params import parse_date, parse_int, parse_range

router = APIRouter(prefix="/api/v1", tags=["licence insight"])

MetricQ = Annotated[str | None, Query(description="A limited peak metric id, e.g. total.speakers (default: all)")]
DayQ = Annotated[str | None, Query(description="A day, YYYY-MM-DD (the company's timezone)")]


def _metric(value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise ApiError(400, "unknown_metric", value=value, choices=", ".join(choices))
    return value


@router.get("/breaches", summary="Time at and over the licence limits, episodes, sizing", responses=ERRORS)
def breaches(
    request: Request,
    date_from: FromQ = None,
    date_to: ToQ = None,
    metric: MetricQ = None,
    company: CompanyQ = None,
    max_episodes: Annotated[
        str | None, Query(description="Episodes listed at most, in order of start (default 100; 0: totals only)")
    ] = None,
) -> JSONResponse:
    """Per limited peak metric: the seconds at or above the limit in force and over it, how many
    episodes (maximal stretches; one crossing midnight counts on both its days, once in the
    range), the days with a breach, the episodes themselves with start, end and highest count,
    and sizing (median and 95th percentile of the daily peaks over days with activity, days at
    90 % and 100 % of the limit, and the smallest limits covering 95 % and 100 % of those days)."""
    _, info = _reader(request, company)
    d1, d2 = parse_range(date_from, date_to)
    chosen = _metric(metric, tuple(m.id for m in LIMITED))
    cap = parse_int("max_episodes", max_episodes, 100, 0, 10_000)
    return JSONResponse(services_of(request).query.breaches(info.id, d1, d2, chosen, cap))


@router.get("/at", summary="What was active at an instant", responses=ERRORS)
def at(
    request: Request,
    instant: Annotated[str | None, Query(description="ISO 8601 with an offset")] = None,
    metric: Annotated[str | None, Query(description="With 'day': that day's peak instant of this metric")] = None,
    day: DayQ = None,
    company: CompanyQ = None,
) -> JSONResponse:
    """The events and calls active at an instant (given, or a day's peak instant of a metric),
    each with its connections, speakers and webinar viewers then, largest first; and every peak
    metric's count then with the limit in force. The events' figures sum to the counts."""
    _, info = _reader(request, company)
    query = services_of(request).query
    if instant:
        try:
            when = datetime.fromisoformat(instant)
        except ValueError:
            raise ApiError(400, "instant_invalid", value=instant) from None
        if when.tzinfo is None:
            raise ApiError(400, "instant_invalid", value=instant)
        t = int(when.timestamp()) * 1_000_000 + when.microsecond
    elif metric and day:
        chosen = _metric(metric, tuple(m.id for m in PEAKS))
        peak = query.peak_instant(info.id, chosen or "", parse_date("day", day))
        if peak is None:
            return JSONResponse({"company": info.id, "instant": None, "metrics": {}, "active": []})
        t = peak
    else:
        raise ApiError(400, "instant_required")
    return JSONResponse(query.at(info.id, t))


@router.get("/intraday", summary="A day's exact curve of connections, speakers and events", responses=ERRORS)
def intraday(request: Request, day: DayQ = None, company: CompanyQ = None) -> JSONResponse:
    """For one day: the exact step curve of connections, speakers and events (every instant
    where a count changes and its value from then), the per-minute maxima, the peaks, the limit
    in force and its changes that day, and the episodes at or over it."""
    _, info = _reader(request, company)
    return JSONResponse(services_of(request).query.intraday(info.id, parse_date("day", day)))


@router.get("/hours", summary="The highest counts per weekday and hour of a range", responses=ERRORS)
def hours(request: Request, date_from: FromQ = None, date_to: ToQ = None, company: CompanyQ = None) -> JSONResponse:
    """For connections, speakers and events: a 7 x 24 matrix (Monday first, local wall-clock
    hours) of the highest count reached in that hour on any day of the range with that weekday,
    from the hourly maxima every day keeps."""
    _, info = _reader(request, company)
    d1, d2 = parse_range(date_from, date_to)
    return JSONResponse(services_of(request).query.hours(info.id, d1, d2))
