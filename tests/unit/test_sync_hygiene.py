"""The sync hook keeps no cookie, and the provider's own log lines are scrubbed of credential shapes."""

from __future__ import annotations

import logging

import structlog

from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.dataflows import AEPDeleteDataflowOperator
from tests.conftest import aep_conn_json

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_the_sync_hook_sends_no_cookie_a_platform_set(monkeypatch):
    from tests.local_servers import cookie_setting_platform

    with cookie_setting_platform() as server:
        monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_conn_json(server.url))
        hook = AEPHook()
        for _ in range(3):
            list(hook.iter_runs("f-1"))
    gets = [s for s in server.seen if s.method == "GET"]
    assert len(gets) == 3
    assert [s.headers.get("Cookie") for s in server.seen] == [None] * len(server.seen)


def _captured(logger_of) -> list[str]:
    with structlog.testing.capture_logs() as logs:
        logger_of().warning("run failed: aws_secret_access_key=%s at %s", AWS_SECRET, "flow-1")
    return [entry["event"] for entry in logs]


def test_the_hooks_log_lines_redact_a_credential_shape(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_conn_json("https://platform.example.test"))
    [line] = _captured(lambda: AEPHook().log)
    assert line == "run failed: aws_secret_access_key=*** at flow-1"


def test_the_operators_log_lines_redact_a_credential_shape(caplog):
    operator = AEPDeleteDataflowOperator(task_id="d", flow_id=None)
    with caplog.at_level(logging.WARNING):
        lines = _captured(lambda: operator.log)
    # Formatted before it is scrubbed: the secret cannot hide in the arguments.
    assert lines == ["run failed: aws_secret_access_key=*** at flow-1"]
    assert AWS_SECRET not in caplog.text
