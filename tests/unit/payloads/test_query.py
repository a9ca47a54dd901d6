"""Scheduled query bodies: Adobe's form, every field checked before any request."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.payloads.query import check_cron, iso_utc, schedule_body


def test_the_body_is_adobes():
    body = schedule_body(
        name="daily gold", sql="SELECT 1", db_name="prod:all", schedule="30 2 * * *",
        start_date=datetime(2026, 12, 3, 2, 30), end_date="2027-06-01T00:00:00Z", description="gold",
    )  # fmt: skip
    assert body == {
        "query": {"dbName": "prod:all", "sql": "SELECT 1", "name": "daily gold", "description": "gold"},
        "schedule": {
            "schedule": "30 2 * * *",
            "startDate": "2026-12-03T02:30:00.000Z",
            "endDate": "2027-06-01T00:00:00.000Z",
        },
    }


@pytest.mark.parametrize("cron", ["@daily", "@once", "0 * * * *", "*/15 1-5 1,15 * 0-6", "  30   2 * * 7 "])
def test_crons_adobe_takes(cron):
    assert check_cron("schedule", cron) == " ".join(cron.split())


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("", "a cron of 5 fields"),
        ("@sometimes", "@daily"),
        ("0 * * *", "this has 4 field(s)"),
        ("60 * * * *", "minute field takes 0-59"),
        ("0 24 * * *", "hour field takes 0-23"),
        ("0 0 0 * *", "day of month field takes 1-31"),
        ("0 0 * 13 *", "month field takes 1-12"),
        ("0 0 * * MON", "day of week field takes 0-7"),
        ("*/0 * * * *", "minute field"),
        ("5-1 * * * *", "minute field"),
    ],
)
def test_bad_crons_are_refused_naming_the_field_and_the_part(cron, words):
    with pytest.raises(AEPValidationError, match="schedule") as refused:
        check_cron("schedule", cron)
    assert words in str(refused.value)


def test_naive_moments_are_utc_and_bad_ones_refused():
    assert iso_utc("start_date", "2026-12-03T04:00:00+02:00") == "2026-12-03T02:00:00.000Z"
    assert iso_utc("start_date", datetime(2026, 1, 1, tzinfo=timezone.utc)) == "2026-01-01T00:00:00.000Z"
    with pytest.raises(AEPValidationError, match="start_date"):
        iso_utc("start_date", "tomorrow")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": " "}, "name"),
        ({"sql": ""}, "sql"),
        ({"end_date": "2026-01-01T00:00:00Z"}, "end_date"),
        ({"schedule": "daily"}, "schedule"),
    ],
)
def test_bad_fields_are_refused_by_name(change, field):
    fields = {
        "name": "n",
        "sql": "SELECT 1",
        "db_name": "prod:all",
        "schedule": "@daily",
        "start_date": "2026-06-01",
    }
    with pytest.raises(AEPValidationError, match=field):
        schedule_body(**{**fields, **change})
