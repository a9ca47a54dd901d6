"""The sync hook keeps no cookie, and the provider's own log lines are scrubbed of credential shapes."""

from __future__ import annotations

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


def _lines_reaching(inner, mocker, log) -> list[str]:
    """What a log call through ``log`` hands to the logger underneath (Airflow's, any version)."""
    handed = mocker.patch.object(inner, "warning")
    log.warning("run failed: aws_secret_access_key=%s at %s", AWS_SECRET, "flow-1")
    return [" ".join(map(str, c.args)) for c in handed.call_args_list]


def test_the_hooks_log_lines_redact_a_credential_shape(monkeypatch, mocker):
    from airflow.providers.common.compat.sdk import BaseHook

    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_conn_json("https://platform.example.test"))
    hook = AEPHook()
    inner = BaseHook.log.fget(hook)  # type: ignore[attr-defined]
    # Formatted before it is scrubbed: the secret cannot hide in the arguments.
    assert _lines_reaching(inner, mocker, hook.log) == ["run failed: aws_secret_access_key=*** at flow-1"]


def test_the_operators_log_lines_redact_a_credential_shape(mocker):
    from airflow.providers.common.compat.sdk import BaseOperator

    operator = AEPDeleteDataflowOperator(task_id="d", flow_id=None)
    inner = BaseOperator.log.fget(operator)  # type: ignore[attr-defined]
    assert _lines_reaching(inner, mocker, operator.log) == ["run failed: aws_secret_access_key=*** at flow-1"]
