"""Bad input to each operator: a clear error before any request, and nothing created in AEP."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPActivateSegmentsOperator, AEPCreateDataflowOperator
from airflow_provider_aep.operators.datasets import AEPListDatasetsOperator
from tests import seed_bodies as seed

pytestmark = pytest.mark.integration


@pytest.fixture
def live(emulator, monkeypatch):
    """Operators talk to the emulator; its state starts empty."""
    emulator.admin.post("/reset").raise_for_status()
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", emulator.connection())
    return emulator


def _created(emulator) -> list[str]:
    """Flow Service writes (token requests and reads, such as resolving a dataset name, are not)."""
    return [
        f"{r['method']} {r['path']}"
        for r in emulator.requests()
        if r["method"] in ("POST", "PATCH", "DELETE") and r["path"].startswith("/data/foundation/flowservice")
    ]


def _rendered(op, **values):
    """What Jinja would have produced: templated fields are only checked in execute."""
    for field, value in values.items():
        setattr(op, field, value)
    return op


CASES = [
    (
        "base: S3 access key of the wrong shape",
        lambda: _rendered(AEPCreateBaseConnectionOperator(task_id="t", destination="{{ d }}", name="n", auth_params="{{ a }}"),
                          destination="amazon_s3", auth_params={"s3AccessKey": "lower-case", "s3SecretKey": seed.S3_SECRET_KEY}),
        "auth_params.s3AccessKey",
    ),
    (
        "base: unknown destination",
        lambda: _rendered(AEPCreateBaseConnectionOperator(task_id="t", destination="{{ d }}", name="n"), destination="dropbox"),
        "destination",
    ),
    (
        "base: credentials connection lacks the secret",
        lambda: AEPCreateBaseConnectionOperator(task_id="t", destination="google_cloud_storage", name="n", credentials_conn_id="half_creds"),
        "auth_params.secretAccessKey",
    ),
    (
        "source: unknown dataset name",
        lambda: _rendered(AEPCreateSourceConnectionOperator(task_id="t", name="n", datasets="{{ x }}"), datasets=["AAM Devices Dta"]),
        "datasets[0]",
    ),
    (
        "target: bad bucket",
        lambda: _rendered(AEPCreateTargetConnectionOperator(task_id="t", destination="amazon_s3", name="n", base_connection_id="b", location="{{ l }}"),
                          location={"bucketName": "Bad_Bucket", "path": "p"}),
        "params.bucketName",
    ),
    (
        "target: uncompressed JSON",
        lambda: _rendered(AEPCreateTargetConnectionOperator(task_id="t", destination="sftp", name="n", base_connection_id="b",
                                                            location={"remotePath": "p"}, compression="{{ c }}"), compression="NONE"),
        "compression",
    ),
    (
        "flow: hourly every 8 hours",
        lambda: _rendered(AEPCreateDataflowOperator(task_id="t", destination="sftp", name="n", source_connection_id="s",
                                                    target_connection_id="t", time_unit="hour", interval="{{ i }}"), interval="8"),
        "interval",
    ),
    (
        "flow: end before start",
        lambda: _rendered(AEPCreateDataflowOperator(task_id="t", destination="sftp", name="n", source_connection_id="s",
                                                    target_connection_id="t", start_time=1975901210, end_time="{{ e }}"), end_time="1675901210"),
        "end_time",
    ),
    (
        "activate: a frequency the export mode does not take",
        lambda: _rendered(AEPActivateSegmentsOperator(task_id="t", flow_id="f", segments="{{ s }}"),
                          segments=[{"id": "s", "exportMode": "DAILY_FULL_EXPORT", "schedule": {"frequency": "EVERY_3_HOURS"}}]),
        "segments[0].schedule.frequency",
    ),
    (
        "activate: no segment",
        lambda: _rendered(AEPActivateSegmentsOperator(task_id="t", flow_id="f", segments="{{ s }}"), segments=[]),
        "segments",
    ),
    (
        "target: email marketing without its storage location",
        lambda: _rendered(AEPCreateTargetConnectionOperator(task_id="t", destination="oracle_eloqua", name="n",
                                                            base_connection_id="b", location="{{ l }}"), location={"path": "p"}),
        "params.bucketName",
    ),
    (
        "list: a name with a typo",

        lambda: _rendered(AEPListDatasetsOperator(task_id="t", names="{{ n }}"), names=["Web Event"]),
        "names",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("label", "make", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_creates_nothing(live, monkeypatch, label, make, field):
    monkeypatch.setenv(
        "AIRFLOW_CONN_HALF_CREDS", json.dumps({"conn_type": "generic", "login": "GOOG1EXAMPLEKEY"})
    )
    with pytest.raises(AEPValidationError) as err:
        make().execute({"ti": mock.MagicMock()})
    assert err.value.field.startswith(field)
    assert "is not valid" in str(err.value)
    assert _created(live) == []
    state = live.admin.get("/state").json()["sandboxes"]
    assert all(not entities for box in state.values() for entities in box.values())
