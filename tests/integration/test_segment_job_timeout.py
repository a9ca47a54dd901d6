"""A segment job that outlives its task's timeout is cancelled, in poke and in deferrable mode:
real Airflow, the emulator's segment jobs over HTTP."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import Api

DAG_ID = "aep_segment_job_timeout"
JOBS = "/data/core/ups/segment/jobs"
pytestmark = pytest.mark.integration


def test_a_job_past_the_timeout_is_cancelled_before_the_task_fails(test_dags_home, emulator):
    emulator.add_fault(delay_segment_jobs=2, seconds=300)  # both jobs outlive their tasks
    before = len(emulator.requests())
    result = test_dags_home.run("dags", "test", DAG_ID)
    assert test_dags_home.task_states(DAG_ID) == {"evaluate": "failed", "evaluate_deferred": "failed"}
    sent = emulator.requests()[before:]
    created = [r for r in sent if r["method"] == "POST" and r["path"] == JOBS]
    cancelled = [
        r["path"].rsplit("/", 1)[-1] for r in sent if r["method"] == "DELETE" and r["path"].startswith(JOBS)
    ]
    assert len(created) == 2
    assert len(cancelled) == 2, sent
    api = Api(emulator)
    for job_id in cancelled:
        job = api.http.get(f"{emulator.url}{JOBS}/{job_id}", headers=api.headers, timeout=10).json()
        assert job["status"] in ("CANCELLING", "CANCELLED"), job
    output = result.stdout + result.stderr
    assert output.count("cancel") >= 2
