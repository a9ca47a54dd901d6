"""The bad-input catalogue: every rule of AEP's API the operators and the sensor check themselves.

Each case is refused with an ``AEPValidationError`` naming the field, the value and what is
allowed, before any write (and before any request unless the rule needs AEP's answer, such as
a dataset name that must exist), so the emulator shows nothing created. ``docs/bad-input.md``
is this catalogue as a table, with the messages users see; ``make docs`` rewrites it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator as Base,
)
from airflow_provider_aep.operators.connections import (
    AEPCreateSourceConnectionOperator as Source,
)
from airflow_provider_aep.operators.connections import (
    AEPCreateTargetConnectionOperator as Target,
)
from airflow_provider_aep.operators.dataflows import AEPActivateSegmentsOperator as Activate
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator as Flow
from airflow_provider_aep.operators.dataflows import AEPDeleteDataflowOperator as Delete
from airflow_provider_aep.operators.dataflows import AEPExtendDataflowEndTimesOperator as Extend
from airflow_provider_aep.operators.dataflows import AEPUpdateDataflowOperator as Update
from airflow_provider_aep.operators.datasets import AEPListDatasetsOperator as ListDatasets
from airflow_provider_aep.operators.runs import AEPRetriggerDataflowRunOperator as Retrigger
from airflow_provider_aep.operators.runs import AEPStartDataflowRunOperator as StartRun
from airflow_provider_aep.operators.updates import AEPUpdateBaseConnectionOperator as Rotate
from airflow_provider_aep.operators.updates import AEPUpdateSourceConnectionOperator as Datasets
from airflow_provider_aep.operators.updates import AEPUpdateTargetConnectionOperator as Move
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor as Sensor
from tests import seed_bodies as seed

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-input.md"
S3_KEYS = {"s3AccessKey": seed.S3_ACCESS_KEY, "s3SecretKey": seed.S3_SECRET_KEY}
SEGMENT = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
DEFAULTS: dict[type, dict[str, Any]] = {
    Base: {"destination": "amazon_s3", "name": "n", "auth_params": S3_KEYS},
    Source: {"name": "n", "datasets": ["AAM Devices Data"]},
    Target: {"destination": "amazon_s3", "name": "n", "base_connection_id": "b",
             "location": {"bucketName": "acme-bucket", "path": "p"}},
    Flow: {"destination": "sftp", "name": "n", "source_connection_id": "s", "target_connection_id": "t",
           "end_time": 1975901210},
    Activate: {"flow_id": "f", "segments": [SEGMENT]},
    Update: {"flow_id": "f"},
    Delete: {"flow_id": "f"},

    Extend: {},
    ListDatasets: {"names": ["AAM Devices Data"]},
    Sensor: {"flow_id": "f"},
    Rotate: {"base_connection_id": "b", "destination": "amazon_s3", "auth_params": S3_KEYS},
    Move: {"target_connection_id": "t", "location": {"path": "v2"}},
    Datasets: {"source_connection_id": "s", "add_datasets": ["a" * 24]},
    StartRun: {"flow_id": "f"},
    Retrigger: {"run_id": "r"},
}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """``written``: the arguments in the DAG file; ``rendered``: what Jinja made of templated ones."""

    operator: type
    rule: str
    field: str
    written: dict[str, Any] = field(default_factory=dict)
    rendered: dict[str, Any] = field(default_factory=dict)
    #: The rule needs AEP's answer (names that must exist): reads happen, writes never.
    reads: bool = False

    def build(self) -> Any:
        kwargs = {**DEFAULTS[self.operator], **self.written}
        for name in self.rendered:
            kwargs[name] = "{{ " + name + " }}"
        op = self.operator(task_id="t", **kwargs)
        for name, value in self.rendered.items():
            setattr(op, name, value)
        return op

    def refusal(self) -> tuple[str, AEPValidationError]:
        """When the case is caught (DAG parse or task run) and the error."""
        try:
            op = self.build()
        except AEPValidationError as parse_error:
            return "DAG parse", parse_error
        with pytest.raises(AEPValidationError) as run_error:
            op.execute({"ti": mock.MagicMock(), "task_state_store": None})
        return "task run", run_error.value


def _segments(**selector: Any) -> dict[str, Any]:
    return {"segments": [{"id": SEGMENT, **selector}]}


CASES = [
    # -- base connection: the destination, its auth spec and the credentials' shapes
    Case(Base, "unknown destination", "destination", rendered={"destination": "dropbox"}),
    Case(Base, "the seed's typo'd Data Landing Zone spec id", "destination",
         {"destination": "3567r537-2a7b-4583-ac39-ed38d4b848e8", "auth_params": {}}),

    Case(Base, "S3 access key of the wrong shape", "auth_params.s3AccessKey",
         rendered={"auth_params": {**S3_KEYS, "s3AccessKey": "lower-case"}}),
    Case(Base, "S3 secret key of the wrong shape (not echoed)", "auth_params.s3SecretKey",
         {"auth_params": {**S3_KEYS, "s3SecretKey": "too-short"}}),
    Case(Base, "S3 credentials without the secret key", "auth_params.s3SecretKey",
         {"auth_params": {"s3AccessKey": seed.S3_ACCESS_KEY}}),
    Case(Base, "a parameter the auth spec does not take", "auth_params", {"auth_params": {**S3_KEYS, "region": "x"}}),
    Case(Base, "an auth spec the destination does not have", "auth_spec_name",
         {"destination": "sftp", "auth_spec_name": "Access Key", "auth_params": {}}),
    Case(Base, "credentials for Data Landing Zone, which takes none", "auth_params",
         {"destination": "data_landing_zone", "auth_params": {"sasToken": "x"}}),
    Case(Base, "SFTP params that fit neither of its auth specs", "auth_spec_name",
         {"destination": "sftp", "auth_params": {"domain": "sftp.example.com"}}),
    Case(Base, "Azure Blob without its connection string", "auth_params.connectionString",
         {"destination": "azure_blob", "auth_params": {}}),
    Case(Base, "a credentials connection that lacks the secret", "credentials_conn_id",
         {"destination": "google_cloud_storage", "auth_params": None, "credentials_conn_id": "half_creds"}),
    Case(Base, "an unknown if_exists", "if_exists", {"if_exists": "upsert"}),
    Case(Base, "an empty name", "name", rendered={"name": ""}),
    Case(Base, "a connection whose read timeout is not a number", "connection 'aep_bad_timeout' extra.timeout",
         {"aep_conn_id": "aep_bad_timeout"}),
    Case(Base, "a connection without its IMS org", "connection 'aep_no_org' extra.org_id",
         {"aep_conn_id": "aep_no_org"}),
    Case(Base, "a Platform URL over plain http to another host", "connection 'aep_plain_http' host",
         {"aep_conn_id": "aep_plain_http"}),
    Case(Base, "an IMS URL over plain http", "connection 'aep_plain_ims' extra.ims_url",
         {"aep_conn_id": "aep_plain_ims"}),
    Case(Base, "a connection sandbox name that climbs out", "connection 'aep_bad_sandbox' extra.sandbox_name",
         {"aep_conn_id": "aep_bad_sandbox"}),
    Case(Base, "a sandbox name that climbs out", "sandbox_name", {"sandbox_name": ".."}),
    Case(Base, "a sandbox name with a header in it", "sandbox_name",
         rendered={"sandbox_name": "prod\r\nx-api-key: other"}),
    # -- source connection: datasets from the data lake, or the Profile Store
    Case(Source, "a dataset name that is not eligible (typo)", "datasets[0]",
         rendered={"datasets": ["AAM Devices Dta"]}, reads=True),
    Case(Source, "no dataset", "datasets", {"datasets": []}),
    Case(Source, "one string instead of a list", "datasets", {"datasets": "AAM Devices Data"}),
    Case(Source, "the same dataset twice", "datasets",
         {"datasets": ["5ef3e3259ad2a1191ab7dd7d", "5ef3e3259ad2a1191ab7dd7d"]}),
    Case(Source, "a dataset entry without an id", "datasets[0].dataSetId", {"datasets": [{"dataSetId": ""}]}),
    Case(Source, "an unknown source", "source", {"source": "profile_lake"}),
    Case(Source, "Profile Store with an empty base connection id", "base_connection_id",
         {"source": "profile_store", "datasets": None, "base_connection_id": ""}),
    # -- target connection: location keys and file format per destination
    Case(Target, "an S3 bucket name AEP refuses", "params.bucketName",
         rendered={"location": {"bucketName": "Bad_Bucket", "path": "p"}}),
    Case(Target, "JSON without compression", "compression",
         {"destination": "sftp", "location": {"remotePath": "p"}}, rendered={"compression": "NONE"}),
    Case(Target, "a file type datasets are not exported as", "datasetFileType", {"dataset_file_type": "CSV"}),
    Case(Target, "an unknown compression", "compression", {"dataset_file_type": "PARQUET", "compression": "ZIP"}),
    Case(Target, "location keys of another destination", "location",
         {"location": {"container": "c", "path": "p"}}),
    Case(Target, "a location that is not a mapping", "location", rendered={"location": "s3://bucket/path"}),
    Case(Target, "SFTP without its remote path", "params.remotePath", {"destination": "sftp", "location": {}}),
    Case(Target, "email marketing without its storage location", "params.bucketName",
         {"destination": "oracle_eloqua"}, rendered={"location": {"path": "p"}}),
    Case(Target, "an unknown destination", "destination", {"destination": "dropbox"}),
    Case(Target, "an empty base connection id", "base_connection_id", rendered={"base_connection_id": ""}),
    # -- dataflow: the schedule rules table, times in seconds, folder name macros
    Case(Flow, "an export mode AEP does not have", "export_mode", {"export_mode": "WEEKLY_EXPORT"}),
    Case(Flow, "a time unit AEP does not have", "time_unit", {"time_unit": "week"}),
    Case(Flow, "hourly every 8 hours", "interval", {"time_unit": "hour"}, rendered={"interval": "8"}),
    Case(Flow, "a daily full export with interval 1", "interval",
         {"export_mode": "DAILY_FULL_EXPORT", "time_unit": "day", "interval": 1}),
    Case(Flow, "a start time in milliseconds", "start_time", {"start_time": 1675901210000}),
    Case(Flow, "an end before the start", "end_time",
         {"start_time": 1975901210}, rendered={"end_time": "1675901210"}),
    Case(Flow, "a schedule that ended before the flow is created", "end_time",
         {"start_time": 1675901210, "end_time": 1700000000}),
    Case(Flow, "an unknown folder name macro", "folder_name_template",
         {"folder_name_template": "%DESTINATION%/%FOO%"}),
    Case(Flow, "an unpaired % in the folder name", "folder_name_template",
         {"folder_name_template": "%DESTINATION%/%DATASET_ID"}),
    Case(Flow, "a raw connection spec id without a flow spec", "flow_spec_id",
         {"destination": "0a1b2c3d-0000-4000-8000-00000000beef"}),
    Case(Flow, "an empty source connection id", "source_connection_id", rendered={"source_connection_id": ""}),
    Case(Flow, "a dataflow link template with an unknown placeholder", "connection 'aep_bad_ui_url' extra.ui_url",
         {"aep_conn_id": "aep_bad_ui_url"}),
    # -- activation: selectors, schedules per export mode, file names, attributes
    Case(Activate, "no segment", "segments", rendered={"segments": []}),
    Case(Activate, "a dataflow id with a query string in it", "flow_id", rendered={"flow_id": "f?op=disable"}),
    Case(Activate, "no dataflow id", "flow_id", {"flow_id": ""}),
    Case(Activate, "profile attributes as one string that is not an XDM path", "profile_attributes[0]",
         {"profile_attributes": "person name"}),
    Case(Activate, "an export mode segments do not have", "segments[0].exportMode",
         _segments(exportMode="WEEKLY_EXPORT")),
    Case(Activate, "a frequency the export mode does not take", "segments[0].schedule.frequency",
         rendered=_segments(exportMode="DAILY_FULL_EXPORT", schedule={"frequency": "EVERY_3_HOURS"})),
    Case(Activate, "an end date on a one-off export", "segments[0].schedule.endDate",
         _segments(schedule={"frequency": "ONCE", "startDate": "2026-03-01", "endDate": "2026-04-01"})),
    Case(Activate, "an end date before the start date", "segments[0].schedule.endDate",
         _segments(exportMode="FIRST_FULL_THEN_INCREMENTAL",
                   schedule={"frequency": "DAILY", "startDate": "2026-03-01", "endDate": "2026-02-01"})),
    Case(Activate, "a one-off export on a day already past", "segments[0].schedule.startDate",
         _segments(schedule={"frequency": "ONCE", "startDate": "2026-03-01"})),
    Case(Activate, "an end date already past", "segments[0].schedule.endDate",
         _segments(exportMode="FIRST_FULL_THEN_INCREMENTAL",
                   schedule={"frequency": "DAILY", "startDate": "2026-03-01", "endDate": "2026-04-01"})),
    Case(Activate, "a start time past 23:59", "segments[0].schedule.startTime",
         _segments(schedule={"startTime": "25:00"})),
    Case(Activate, "a date that is not in the calendar", "segments[0].schedule.startDate",
         _segments(schedule={"startDate": "2026-02-30"})),
    Case(Activate, "a file name without the segment id", "segments[0].filenameTemplate",
         _segments(filenameTemplate="%DESTINATION_NAME%_audience")),
    Case(Activate, "an unknown file name macro", "segments[0].filenameTemplate",
         _segments(filenameTemplate="%DESTINATION_NAME%_%SEGMENT_ID%_%DATE%")),
    Case(Activate, "a selector key AEP does not take", "segments[0]", _segments(frequency="DAILY")),
    Case(Activate, "the same segment twice", "segments", {"segments": [SEGMENT, SEGMENT]}),
    Case(Activate, "a profile attribute that is not an XDM path", "profile_attributes[0]",
         {"profile_attributes": ["person name"]}),
    Case(Activate, "a mandatory field that is not exported", "mandatory_fields",
         {"profile_attributes": ["person.name.firstName"], "mandatory_fields": ["personalEmail.address"]}),
    # -- updates and maintenance
    Case(Update, "an unknown state", "state", {"state": "paused"}),
    Case(Update, "both a new end and days to extend by", "end_time", {"end_time": 1975901210, "extend_by_days": 30}),
    Case(Update, "a negative extension", "extend_by_days", rendered={"extend_by_days": "-3"}),
    Case(Update, "an export mode AEP does not have", "export_mode", {"export_mode": "HOURLY"}),
    Case(Delete, "an empty dataflow id", "flow_id", rendered={"flow_id": ""}),
    Case(Delete, "a dataflow id that climbs to a base connection", "flow_id",
         rendered={"flow_id": "x/../../connections/b"}),
    Case(Update, "an empty dataflow id", "flow_id", rendered={"flow_id": ""}),
    Case(Update, "no dataflow id", "flow_id", {"flow_id": None}),
    Case(Delete, "delete_connections that is not a boolean", "delete_connections", {"delete_connections": "yes"}),
    Case(Delete, "an ownership rule that is not a boolean", "only_created_by_this_run",
         {"only_created_by_this_run": "no"}),
    Case(Extend, "a window of zero days", "within_days", {"within_days": 0}),

    Case(Extend, "an extension that is not a number", "extend_by_days", rendered={"extend_by_days": "half a year"}),
    Case(ListDatasets, "a dataset name with a typo", "names", rendered={"names": ["Web Event"]}, reads=True),
    Case(ListDatasets, "one string instead of a list", "names", {"names": "AAM Devices Data"}),
    # -- the sensor: which run to wait for and what counts as done
    Case(Sensor, "no dataflow id", "flow_id", rendered={"flow_id": ""}),
    Case(Sensor, "a dataflow id that adds a run filter", "flow_id", rendered={"flow_id": "f,other-flow"}),
    Case(Sensor, "a run id with a path in it", "run_id", {"run_id": "../flows/f"}),
    Case(Sensor, "a sandbox name AEP does not have", "sandbox_name", {"sandbox_name": "Prod"}),
    Case(Sensor, "a run id and latest together", "latest", {"run_id": "r", "latest": True}),
    Case(Sensor, "since in seconds, not milliseconds", "since", {"since": 1767225600}),
    Case(Sensor, "since that is not a date", "since", rendered={"since": "yesterday"}),
    Case(Sensor, "until before since", "until", {"since": "2026-12-02", "until": "2026-12-01"}),
    Case(Sensor, "until equal to since, once rendered", "until",
         rendered={"since": "2026-12-01T00:00:00+00:00", "until": "2026-12-01"}),
    Case(Sensor, "an endless grace after until", "until_grace", {"until_grace": float("inf")}),
    Case(Sensor, "a negative minimum of output records", "min_records", {"min_records": -1}),
    Case(Sensor, "a failed-record limit that is not a number", "max_failed_records",
         rendered={"max_failed_records": "a few"}),
    Case(Sensor, "success statuses as one string", "success_statuses", {"success_statuses": "success"}),
    Case(Sensor, "no success status", "success_statuses", {"success_statuses": []}),
    Case(Sensor, "a status that is both success and failure", "failure_statuses",
         {"success_statuses": ["success", "failed"]}),
    Case(Sensor, "more re-triggers than make sense", "retrigger_failed", {"retrigger_failed": 50}),
    Case(Sensor, "re-triggers that are not a number", "retrigger_failed", {"retrigger_failed": "twice"}),
    # -- changing connections in place, and runs on demand
    Case(Rotate, "no new credentials", "auth_params", {"auth_params": {}}),
    Case(Rotate, "a credential the auth spec does not take", "auth_params",
         {"auth_params": {**S3_KEYS, "password": "hunter22"}}),
    Case(Rotate, "a rotated S3 access key of the wrong shape", "auth_params.s3AccessKey",
         rendered={"auth_params": {**S3_KEYS, "s3AccessKey": "AKIA-short"}}),
    Case(Rotate, "a base connection id that climbs to a flow", "base_connection_id",
         rendered={"base_connection_id": "../flows/f"}),
    Case(Move, "nothing to change", "location", {"location": {}}),
    Case(Move, "a location that is a URL, not location keys", "location",
         rendered={"location": "s3://acme-bucket/v2"}),
    Case(Datasets, "nothing to add or remove", "add_datasets", {"add_datasets": []}),
    Case(Datasets, "a dataset name where an id belongs", "add_datasets", {"add_datasets": ["Web Events"]}),
    Case(Datasets, "the same dataset added and removed", "remove_datasets",
         {"add_datasets": ["a" * 24], "remove_datasets": ["a" * 24]}),
    Case(StartRun, "a start time in seconds, not milliseconds", "start_time", {"start_time": 1767225600}),
    Case(StartRun, "a dataflow id with a path in it", "flow_id", rendered={"flow_id": "../runs"}),
    Case(Retrigger, "a run id with a query in it", "run_id", rendered={"run_id": "r?op=RE_TRIGGER"}),
    # -- dataflows by name, and ids a template rendered to None
    Case(Sensor, "both a dataflow id and a dataflow name", "flow_name", {"flow_name": "Nightly export"}),
    Case(Sensor, "a dataflow id a template rendered None", "flow_id", rendered={"flow_id": "None"}),
    Case(Sensor, "a dataflow name a template rendered None", "flow_name",
         {"flow_id": None}, rendered={"flow_name": "None"}),
    Case(StartRun, "neither a dataflow id nor a dataflow name", "flow_id", {"flow_id": None}),
    Case(StartRun, "a dataflow name no dataflow has", "flow_name",
         {"flow_id": None, "flow_name": "Nightly export"}, reads=True),
    Case(StartRun, "a record minimum without wait_for_completion", "min_records", {"min_records": 1}),
    Case(Update, "both a dataflow id and a dataflow name", "flow_name", {"flow_name": "Nightly export"}),
    Case(Update, "a dataflow id a template rendered None", "flow_id", rendered={"flow_id": "None"}),
    Case(Retrigger, "both a run id and a dataflow name", "flow_name", {"flow_name": "Nightly export"}),
    Case(Retrigger, "a run id a template rendered None", "run_id", rendered={"run_id": "None"}),
    Case(Target, "a base connection id a template rendered None", "base_connection_id",
         rendered={"base_connection_id": "None"}),
    Case(Base, "a destination typo, with a credentials connection", "destination",
         {"destination": "amazn_s3", "auth_params": None, "credentials_conn_id": "half_creds"}),
    Case(Target, "a destination typo", "destination", {"destination": "gsc"}),
]  # fmt: skip


@pytest.fixture
def live(emulator, monkeypatch):
    """Operators talk to the emulator, whose state starts empty; a few odd connections exist."""
    emulator.admin.post("/reset").raise_for_status()
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", emulator.connection())
    monkeypatch.setenv(
        "AIRFLOW_CONN_HALF_CREDS", json.dumps({"conn_type": "generic", "login": "GOOG1EXAMPLEKEY"})
    )
    odd_connections = {
        "AEP_BAD_TIMEOUT": {"extra": {"timeout": "soon"}},
        "AEP_NO_ORG": {"extra": {"org_id": None}},
        "AEP_PLAIN_HTTP": {"host": "http://platform.example.com"},
        "AEP_PLAIN_IMS": {"extra": {"ims_url": "http://ims.example.com/ims/token/v3"}},
        "AEP_BAD_SANDBOX": {"extra": {"sandbox_name": "../prod"}},
        "AEP_BAD_UI_URL": {"extra": {"ui_url": "https://experience.example.com/{flow}"}},
    }
    for conn_id, change in odd_connections.items():
        odd = json.loads(emulator.connection())
        odd["extra"].update(change.get("extra", {}))
        odd.update({k: v for k, v in change.items() if k != "extra"})
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}", json.dumps(odd))
    return emulator


def _flow_service_calls(emulator) -> list[str]:
    return [
        f"{r['method']} {r['path']}"
        for r in emulator.requests()
        if r["path"].startswith("/data/foundation/flowservice")
    ]


def _label(case: Case) -> str:
    return f"{case.operator.__name__}: {case.rule}"


def test_the_catalogue_covers_every_operator_and_the_sensor():
    assert len(CASES) >= 40
    assert {c.operator for c in CASES} == set(DEFAULTS)
    assert len({_label(c) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=_label)
def test_bad_input_is_refused_before_anything_is_created(live, case: Case):
    when, error = case.refusal()
    assert error.field.startswith(case.field), str(error)
    assert f"{error.field}=" in str(error)
    assert " is not valid: " in str(error)
    assert error.allowed
    calls = _flow_service_calls(live)
    writes = [c for c in calls if not c.startswith("GET ")]
    assert writes == []
    if not case.reads:
        assert calls == []
    state = live.admin.get("/state").json()["sandboxes"]
    assert all(not entities for box in state.values() for entities in box.values())
    if case.rendered:
        assert when == "task run"  # templated values are checked once rendered


def _table(rows: list[tuple[Case, str, AEPValidationError]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "# Bad input: what is refused before anything reaches AEP",
        "",
        "Every case below is a test (`tests/integration/test_bad_input.py`): the error names the field, the",
        "value and what is allowed; no request writes anything, and the emulator shows nothing created.",
        "*DAG parse* cases fail when the DAG file is loaded (the value is written literally); *task run*",
        "cases are templated or need AEP's answer, and fail when the task starts, before any write.",
        "Secret values are never echoed.",
        "",
        "| # | Operator | Input | Caught at | Error |",
        "|---|----------|-------|-----------|-------|",
    ]
    for number, (case, when, error) in enumerate(rows, 1):
        lines.append(
            f"| {number} | `{case.operator.__name__}` | {cell(case.rule)} | {when} | {cell(str(error))} |"
        )
    return "\n".join(lines) + "\n"


def test_the_docs_table_is_the_catalogue(live, monkeypatch):
    # The table shows the messages as a fresh task process writes them: values that tests run
    # before in this process registered as secrets (demo usernames such as "eloqua") would be
    # scrubbed out of them.
    from airflow_provider_aep.redaction import secrets

    monkeypatch.setattr(secrets, "_known", set())
    table = _table([(case, *case.refusal()) for case in CASES])
    if os.environ.get("AEP_WRITE_DOCS"):
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(table)
    assert DOC.read_text() == table, "docs/bad-input.md is out of date: run `make docs`"
