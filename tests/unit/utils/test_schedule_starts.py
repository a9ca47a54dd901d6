"""When a flow's runs may start, read from the flow: dataset schedules, audience schedules, anchors."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_aep.utils.schedule_starts import StartSeries, flow_starts

HOUR = 3_600_000
DAY = 24 * HOUR


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def dataset_flow(**schedule):
    params = {"exportMode": "FIRST_FULL_THEN_INCREMENTAL", "timeUnit": "day", "interval": 1}
    params.update(schedule)
    return {"id": "f", "createdAt": ms("2026-01-01T00:00:00"), "scheduleParams": params}


def audience_flow(*schedules, last_run=None):
    selectors = [
        {"type": "PLATFORM_SEGMENT", "value": {"id": f"s{i}", "schedule": s}} for i, s in enumerate(schedules)
    ]
    flow = {"id": "f", "transformations": [{"params": {"segmentSelectors": {"selectors": selectors}}}]}
    if last_run:
        flow["lastRunDetails"] = {"startedAtUTC": last_run}
    return flow


def test_a_series_counts_its_starts_forward_and_back_and_stops_at_its_end():
    series = StartSeries(first_ms=1000, period_ms=100, end_ms=1350)
    assert series.next_at_or_after(0) == 1000
    assert series.next_at_or_after(1001) == 1100
    assert series.next_at_or_after(1300) == 1300
    assert series.next_at_or_after(1301) is None  # 1400 is past the end
    assert series.last_at_or_before(999) is None
    assert series.last_at_or_before(1199) == 1100
    assert series.last_at_or_before(5000) == 1300
    once = StartSeries(first_ms=1000)
    assert (once.next_at_or_after(1000), once.next_at_or_after(1001)) == (1000, None)
    assert (once.last_at_or_before(999), once.last_at_or_before(9999)) == (None, 1000)


def test_a_daily_export_starts_at_its_start_time_each_day_and_ends_at_its_end_time():
    start = ms("2026-01-01T06:00:00") // 1000
    end = ms("2026-03-01T00:00:00") // 1000
    [series] = flow_starts(dataset_flow(startTime=start, endTime=end))
    assert series == StartSeries(start * 1000, DAY, end * 1000)
    assert series.next_at_or_after(ms("2026-02-10T07:00:00")) == ms("2026-02-11T06:00:00")


def test_an_hourly_export_starts_every_interval_hours():
    [series] = flow_starts(
        dataset_flow(timeUnit="hour", interval=6, startTime=ms("2026-01-01T00:00:00") // 1000)
    )
    assert series.next_at_or_after(ms("2026-01-05T01:00:00")) == ms("2026-01-05T06:00:00")


def test_the_last_run_anchors_a_second_series_where_aep_really_starts_runs():
    flow = dataset_flow(startTime=ms("2026-01-01T06:00:00") // 1000)
    flow["lastRunDetails"] = {"id": "r", "startedAtUTC": ms("2026-02-01T06:20:00")}
    starts = flow_starts(flow)
    assert [s.first_ms for s in starts] == [ms("2026-01-01T06:00:00"), ms("2026-02-01T06:20:00")]
    assert min(s.next_at_or_after(ms("2026-02-01T07:00:00")) for s in starts) == ms("2026-02-02T06:00:00")


def test_a_flow_made_after_its_start_time_counts_from_its_creation_until_it_has_run():
    flow = dataset_flow(startTime=ms("2025-12-01T00:00:00") // 1000)
    assert [s.first_ms for s in flow_starts(flow)] == [ms("2025-12-01T00:00:00"), ms("2026-01-01T00:00:00")]


@pytest.mark.parametrize(
    "schedule",
    [
        {"exportMode": "DAILY_FULL_EXPORT", "interval": 0},  # one full export, on request
        {"frequency": "once", "startTime": 1_700_000_000},
        {"timeUnit": "fortnight", "startTime": 1_700_000_000},
        {"startTime": None},
        {"interval": True, "startTime": 1_700_000_000},
    ],
)
def test_a_schedule_that_cannot_be_known_gives_none(schedule):
    assert flow_starts(dataset_flow(**schedule)) is None
    assert flow_starts({"id": "f"}) is None


def test_an_audience_exports_at_its_start_time_each_period_until_its_end_date():
    flow = audience_flow(
        {"frequency": "DAILY", "startDate": "2026-02-01", "startTime": "10:00", "endDate": "2026-02-10"},
        {"frequency": "EVERY_6_HOURS", "startDate": "2026-02-01", "startTime": "01:30"},
    )
    daily, six_hourly = flow_starts(flow)
    assert daily == StartSeries(ms("2026-02-01T10:00:00"), DAY, ms("2026-02-11T00:00:00"))
    assert daily.next_at_or_after(ms("2026-02-10T10:00:01")) is None
    assert six_hourly.next_at_or_after(ms("2026-02-03T02:00:00")) == ms("2026-02-03T07:30:00")


def test_an_audience_exported_once_starts_once_on_its_day():
    [once] = flow_starts(
        audience_flow({"frequency": "ONCE", "startDate": "2026-02-01", "startTime": "09:15"})
    )
    assert once == StartSeries(ms("2026-02-01T09:15:00"), 0, ms("2026-02-02T00:00:00"))


@pytest.mark.parametrize(
    "schedule",
    [
        {"triggerType": "AFTER_SEGMENT_EVALUATION", "frequency": "DAILY", "startDate": "2026-02-01"},
        {"frequency": "WEEKLY", "startDate": "2026-02-01"},
        {"frequency": "DAILY", "startDate": "not a day"},
        None,
    ],
)
def test_an_audience_whose_export_time_aep_decides_makes_the_whole_flow_unknown(schedule):
    known = {"frequency": "DAILY", "startDate": "2026-02-01", "startTime": "10:00"}
    assert flow_starts(audience_flow(known, schedule)) is None


def test_a_series_that_ends_before_it_starts_has_no_start():
    series = StartSeries(first_ms=1000, period_ms=100, end_ms=1000)
    assert series.last_at_or_before(5000) is None
    assert series.next_at_or_after(0) is None
