"""Each dataflow's line on the health page, decided from AEP's listings and a fixed "now"."""

from __future__ import annotations

from airflow_provider_aep.plugins.flow_health import RUNS_SHOWN, flow_health
from tests.unit.plugins.helpers import NOW_MS, flow, run


def lines(flows, runs):
    return flow_health(
        flows, runs, now_ms=NOW_MS, page_url=lambda flow_id: f"https://aep.test/flows/{flow_id}"
    )


def test_a_failed_latest_run_comes_first_with_aeps_error_codes():
    failure = [{"code": "CONNECTOR-2001-500", "message": "The destination refused the file"}]
    found = lines(
        [flow("f-ok", "A healthy export"), flow("f-bad", "Z failing export")],
        [
            run("r-ok", "f-ok", "success"),
            run("r-old", "f-bad", "success", hours_ago=25),
            run("r-bad", "f-bad", "failed", hours_ago=1, errors=failure),
        ],
    )
    assert [(line.flow_id, line.health) for line in found] == [("f-bad", "failed"), ("f-ok", "healthy")]
    bad = found[0]
    assert [r.run_id for r in bad.runs] == ["r-bad", "r-old"]
    assert bad.runs[0].error_codes == ["CONNECTOR-2001-500"]
    assert bad.runs[0].errors[0]["message"] == "The destination refused the file"
    assert bad.aep_url == "https://aep.test/flows/f-bad"


def test_a_later_success_clears_an_earlier_failure():
    found = lines(
        [flow("f", "export")],
        [run("r1", "f", "failed", hours_ago=25), run("r2", "f", "success", hours_ago=1)],
    )
    assert found[0].health == "healthy"


def test_a_run_in_progress_does_not_hide_the_failure_before_it():
    found = lines(
        [flow("f", "export"), flow("g", "other")],
        [
            run("r1", "f", "failed", hours_ago=3),
            run("r2", "f", "inProgress", hours_ago=1),
            run("s1", "g", "success", hours_ago=3),
            run("s2", "g", "inProgress", hours_ago=1),
        ],
    )
    assert {line.flow_id: line.health for line in found} == {"f": "failed", "g": "running"}


def test_only_a_success_is_healthy_a_cancelled_run_needs_a_look():
    found = lines([flow("f", "export")], [run("r", "f", "cancelled")])
    assert found[0].health == "check"


def test_counts_duration_and_bytes_of_each_run():
    (line,) = lines([flow("f", "export")], [run("r", "f", "success", records=1234)])
    shown = line.runs[0]
    assert (shown.input_records, shown.output_records, shown.output_bytes, shown.files_out) == (
        1234,
        1234,
        12340,
        1,
    )
    assert shown.duration_seconds == 60.0
    assert shown.status == "success"


def test_only_the_newest_runs_are_shown():
    runs = [run(f"r{i}", "f", "success", hours_ago=i) for i in range(1, 8)]
    (line,) = lines([flow("f", "export")], runs)
    assert [r.run_id for r in line.runs] == [f"r{i}" for i in range(1, RUNS_SHOWN + 1)]


def test_a_schedule_ending_within_a_week_is_ending_and_says_when():
    (line,) = lines([flow("f", "export", ends_in_days=2.5)], [run("r", "f", "success")])
    assert line.health == "ending"
    assert line.ends_in_days == 2.5
    assert line.ends_at is not None


def test_an_ended_schedule_is_ended_even_after_a_failure():
    (line,) = lines([flow("f", "export", ends_in_days=-1)], [run("r", "f", "failed")])
    assert line.health == "ended"
    assert line.next_start is None


def test_without_runs_listed_the_flows_last_run_state_decides():
    found = lines(
        [
            flow("a", "never ran"),
            flow("b", "ran last week", last="success"),
            flow("c", "off", state="disabled"),
        ],
        [],
    )
    assert {line.flow_id: line.health for line in found} == {"a": "no runs", "b": "healthy", "c": "disabled"}


def test_the_schedule_and_next_start_of_a_dataset_export():
    (line,) = lines([flow("f", "export", every_days=1)], [])
    assert line.schedule == "every 1 day"
    assert line.kind == "dataset export"
    assert line.next_start is not None
    assert line.next_start > "2026"


def test_an_audience_flows_schedule_names_its_audiences():
    audience = {
        "id": "f",
        "name": "audiences",
        "state": "enabled",
        "transformations": [
            {
                "name": "GeneralTransform",
                "params": {
                    "segmentSelectors": {
                        "selectors": [
                            {
                                "type": "PLATFORM_SEGMENT",
                                "value": {
                                    "id": f"s{i}",
                                    "schedule": {
                                        "frequency": "DAILY",
                                        "startDate": "2026-11-01",
                                        "startTime": "08:00",
                                    },
                                },
                            }
                            for i in range(2)
                        ]
                    }
                },
            }
        ],
    }
    (line,) = lines([audience], [])
    assert line.kind == "audience activation"
    assert line.schedule == "2 audiences: DAILY"


def test_the_json_form_spells_out_error_codes():
    (line,) = lines(
        [flow("f", "export")], [run("r", "f", "failed", errors=[{"code": "E-1", "message": "no"}])]
    )
    as_json = line.as_dict()
    assert as_json["runs"][0]["error_codes"] == ["E-1"]
    assert as_json["health"] == "failed"
