"""version_compat: the names each Airflow 3 line offers, and what older lines fall back to."""

from __future__ import annotations

import ast
import asyncio
import importlib
import importlib.util
import json
import logging
import re
import sys
import threading
import types
from importlib.resources import files
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from airflow_provider_aep import version_compat
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.utils import airflow_lacks, task_state


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("3.0.6", (3, 0, 6)),
        ("3.1.8", (3, 1, 8)),
        ("3.2.0rc2", (3, 2, 0)),
        ("3.3.2.dev0+local", (3, 3, 2)),
        ("3.3", (3, 3, 0)),
    ],
)
def test_the_version_tuple_is_the_release(version, expected):
    assert version_compat.get_base_airflow_version_tuple(version) == expected


def test_the_flags_follow_the_installed_airflow():
    installed = version_compat.get_base_airflow_version_tuple(airflow.__version__)
    assert installed == version_compat.AIRFLOW_VERSION_TUPLE
    assert (installed >= (3, 1, 0)) == version_compat.AIRFLOW_V_3_1_PLUS
    assert (installed >= (3, 2, 0)) == version_compat.AIRFLOW_V_3_2_PLUS
    assert (installed >= (3, 3, 0)) == version_compat.AIRFLOW_V_3_3_PLUS


def test_the_exceptions_the_provider_takes_are_the_ones_this_airflow_raises_and_catches():
    import airflow.providers.common.compat.sdk as compat_sdk

    # Airflow 3.2 moved them to the task SDK; before, only airflow.exceptions has them.
    where = "airflow.sdk.exceptions" if version_compat.AIRFLOW_V_3_2_PLUS else "airflow.exceptions"
    module = importlib.import_module(where)
    for name in ("AirflowFailException", "AirflowSensorTimeout", "AirflowSkipException", "TaskDeferred"):
        assert getattr(compat_sdk, name) is getattr(module, name)
    from airflow_provider_aep.exceptions import AEPDataflowRunFailed

    assert issubclass(AEPDataflowRunFailed, module.AirflowFailException)


def test_the_hook_extends_the_base_hook_of_this_airflow():
    where = "airflow.sdk" if version_compat.AIRFLOW_V_3_1_PLUS else "airflow.hooks.base"
    assert issubclass(AEPHook, importlib.import_module(where).BaseHook)


def test_version_compat_holds_version_flags_only():
    public = {name for name in vars(version_compat) if not name.startswith("_")}
    assert public - {"annotations", "re"} == {
        "AIRFLOW_VERSION",
        "AIRFLOW_VERSION_TUPLE",
        "AIRFLOW_V_3_1_PLUS",
        "AIRFLOW_V_3_2_PLUS",
        "AIRFLOW_V_3_3_PLUS",
        "get_base_airflow_version_tuple",
    }


#: What official providers do not touch: Airflow's private modules and methods.
PRIVATE_AIRFLOW = re.compile(
    r"airflow\.sdk\.definitions\._internal|_secrets_masker|_do_render_template_fields|"
    r"airflow\.sdk\.execution_time\.secrets_masker|airflow\.sdk\._shared"
)


def test_no_provider_module_uses_a_private_airflow_api():
    package = Path(__file__).resolve().parents[2] / "airflow_provider_aep"
    found = [
        f"{path.relative_to(package)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE_AIRFLOW.search(line)
    ]
    assert found == []


def test_parsing_a_dag_loads_no_compatibility_layer():
    """What most DAG files import (the connection, dataflow, dataset and update operators, the run
    sensor and its link) takes Airflow's names from ``airflow.sdk``, which has them on every 3.x
    line: parsing such a DAG never loads common-compat's ``sdk`` (nor its version checks)."""
    import subprocess
    import sys

    code = (
        "import sys; from airflow.sdk import DAG\n"
        "import airflow_provider_aep.operators.connections, airflow_provider_aep.operators.dataflows, "
        "airflow_provider_aep.operators.datasets, airflow_provider_aep.operators.updates, "
        "airflow_provider_aep.sensors.dataflow_run, airflow_provider_aep.operators.query\n"
        "print(sorted(m for m in sys.modules if m.startswith('airflow.providers.common.compat.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    # airflow.sdk itself reads the compat provider's info; nothing else of it is loaded.
    assert done.stdout.strip() in ("[]", "['airflow.providers.common.compat.get_provider_info']")


def test_every_airflow_name_the_provider_imports_comes_through_common_compat():
    """Airflow's own classes, exceptions and helpers come from common-compat's ``sdk`` (or, for
    the trigger's base, ``airflow.triggers.base``, the same on every 3.x line), as official
    providers take them; ``airflow.sdk`` only for what it has on every 3.x line."""
    package = Path(__file__).resolve().parents[2] / "airflow_provider_aep"
    allowed = (
        "airflow.providers.common.compat.sdk",
        "airflow.triggers.base",
        "airflow.sdk",
        "airflow.providers.openlineage",
        "airflow.providers.common.compat.openlineage",
    )
    # The health view runs inside the api-server (Airflow 3.1+ only), where Airflow's auth manager,
    # metadata models and sessions are the plugin interface; nothing else of the provider uses them.
    api_server = ("airflow.api_fastapi.", "airflow.models.", "airflow.utils.session")
    found = []
    for path in sorted(package.rglob("*.py")):
        in_api_server = path.parent.name == "plugins"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "airflow":
                if in_api_server and node.module.startswith(api_server):
                    continue
                if node.module != "airflow" and not node.module.startswith(allowed):
                    found.append(f"{path.relative_to(package)}: from {node.module}")
                if node.module == "airflow.sdk" and {a.name for a in node.names} & COMPAT_NAMES:
                    found.append(
                        f"{path.relative_to(package)}: {sorted(a.name for a in node.names)} from airflow.sdk"
                    )
    assert found == []


#: Names that moved between Airflow 3 releases: only ever from common-compat. (``BaseOperator``,
#: ``BaseSensorOperator``, ``BaseOperatorLink``, ``PokeReturnValue`` and ``XComArg`` are in
#: ``airflow.sdk`` on every 3.x line: DAG files import them from there, and so does the provider.)
COMPAT_NAMES = {
    "BaseHook",
    "Connection",
    "conf",
    "mask_secret",
    "TaskInstanceKey",
}


# -- secret masking on the triggerer's loop (the connection lookup: tests/unit/test_async_hook.py) --


@pytest.fixture
def airflow_masker(monkeypatch):
    """Airflow's mask_secret as common-compat gives it, recording the thread each call ran on;
    like Airflow 3.0's, it raises on a thread that runs an event loop (it tells the supervisor
    through async_to_sync first)."""
    import airflow.providers.common.compat.sdk as compat_sdk

    calls: list[tuple[str, str]] = []

    def mask_secret(secret, name=None):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            calls.append((secret, threading.current_thread().name))
            return
        raise RuntimeError("You cannot use AsyncToSync in the same thread as an async event loop")

    monkeypatch.setattr(compat_sdk, "mask_secret", mask_secret, raising=False)
    return calls


def test_a_secret_masked_on_a_triggerers_loop_is_handed_to_a_thread_that_can_tell_the_supervisor(
    airflow_masker,
):
    from airflow_provider_aep.redaction import secrets

    async def on_the_loop() -> str:
        secrets._mask_in_airflow("token-value-123456")
        while secrets._pending:
            await asyncio.sleep(0.01)
        return threading.current_thread().name

    loop_thread = asyncio.run(on_the_loop())

    assert [secret for secret, _ in airflow_masker] == ["token-value-123456"]
    assert airflow_masker[0][1] != loop_thread  # asgiref's thread, whose calls reach the loop


def test_a_secret_masked_off_any_loop_is_masked_at_once(airflow_masker):
    from airflow_provider_aep.redaction import secrets

    secrets._mask_in_airflow("token-value-123456")

    assert airflow_masker == [("token-value-123456", threading.current_thread().name)]


def test_another_failure_to_mask_is_not_swallowed(monkeypatch):
    import airflow.providers.common.compat.sdk as compat_sdk

    from airflow_provider_aep.redaction import secrets

    def broken(secret, name=None):
        raise RuntimeError("the masker is broken")

    monkeypatch.setattr(compat_sdk, "mask_secret", broken, raising=False)
    with pytest.raises(RuntimeError, match="the masker is broken"):
        secrets._mask_in_airflow("token-value-123456")


# -- task_state_store ------------------------------------------------------------------------------


def test_without_a_task_state_store_older_airflow_says_so_once(monkeypatch, caplog):
    monkeypatch.setattr(task_state, "AIRFLOW_V_3_3_PLUS", False)
    monkeypatch.setattr(airflow_lacks, "_said", set())
    from airflow_provider_aep.utils.task_state import forget, recall, remember

    with caplog.at_level(logging.INFO, logger=airflow_lacks.__name__):
        context: dict[str, Any] = {}
        remember(context, "k", 1)
        assert recall(context, "k") is None
        forget(context, "k")
        assert task_state.task_state_store(context) is None

    said = [r.getMessage() for r in caplog.records if r.name == airflow_lacks.__name__]
    assert len(said) == 1
    assert "no task_state_store (it needs Airflow 3.3+)" in said[0]


def test_a_task_state_store_is_used_and_nothing_is_said(monkeypatch, caplog):
    class Store(dict):
        def set(self, key, value):
            self[key] = value

        def delete(self, key):
            del self[key]

    monkeypatch.setattr(airflow_lacks, "_said", set())
    from airflow_provider_aep.utils.task_state import forget, recall, remember

    context = {"task_state_store": Store()}
    with caplog.at_level(logging.INFO, logger=airflow_lacks.__name__):
        remember(context, "k", {"n": 1})
        assert recall(context, "k") == {"n": 1}
        forget(context, "k")
        assert recall(context, "k") is None
    assert [r for r in caplog.records if r.name == airflow_lacks.__name__] == []


# -- the connection form on Airflow 3.0/3.1 ------------------------------------------------------


class FakeField:
    def __init__(self, label, widget=None, description="", default=None):
        self.label, self.widget, self.description, self.default = label, widget, description, default


class FakeStringField(FakeField):
    pass


class FakeIntegerField(FakeField):
    pass


@pytest.fixture
def fake_wtforms(monkeypatch):
    """What Airflow 3.0/3.1's UI puts in place of WTForms and Flask-AppBuilder to read the form."""
    wtforms = types.ModuleType("wtforms")
    wtforms.StringField = FakeStringField  # type: ignore[attr-defined]
    wtforms.IntegerField = FakeIntegerField  # type: ignore[attr-defined]
    babel = types.ModuleType("flask_babel")
    babel.lazy_gettext = lambda text: text  # type: ignore[attr-defined]
    fab = types.ModuleType("flask_appbuilder")
    widgets = types.ModuleType("flask_appbuilder.fieldwidgets")
    widgets.BS3TextFieldWidget = type("BS3TextFieldWidget", (), {})  # type: ignore[attr-defined]
    for name, module in [
        ("wtforms", wtforms),
        ("flask_babel", babel),
        ("flask_appbuilder", fab),
        ("flask_appbuilder.fieldwidgets", widgets),
    ]:
        monkeypatch.setitem(sys.modules, name, module)


def test_the_hook_offers_the_conn_fields_as_the_older_form(fake_wtforms, monkeypatch, caplog):
    monkeypatch.setattr(airflow_lacks, "_said", set())
    with caplog.at_level(logging.INFO, logger=airflow_lacks.__name__):
        form = AEPHook.get_connection_form_widgets()
        AEPHook.get_connection_form_widgets()

    assert list(form) == ["org_id", "sandbox_name", "scopes", "timeout", "ims_url", "ui_url"]
    assert isinstance(form["org_id"], FakeStringField)
    assert form["org_id"].label == "Org ID"
    assert "IMS organization" in form["org_id"].description
    assert form["sandbox_name"].default == "prod"
    assert isinstance(form["timeout"], FakeIntegerField)
    assert form["timeout"].default == 60
    assert form["ims_url"].default == "https://ims-na1.adobelogin.com/ims/token/v3"
    said = [r.getMessage() for r in caplog.records if r.name == airflow_lacks.__name__]
    assert len(said) == 1
    assert "get_connection_form_widgets" in said[0]


def test_the_hook_offers_the_field_behaviour_in_the_older_form():
    behaviour = AEPHook.get_ui_field_behaviour()

    assert behaviour["hidden_fields"] == ["schema", "extra", "description"]
    assert behaviour["relabeling"]["login"] == "Client ID"
    assert behaviour["placeholders"]["org_id"] == "1234ABCD5678EF90@AdobeOrg"
    schema = json.loads(files("airflow").joinpath("customized_form_field_behaviours.schema.json").read_text())
    jsonschema.validate(behaviour, schema)


def test_this_airflows_ui_shows_the_aep_form():
    """The connection form as this Airflow's UI builds it: conn-fields (3.2+) or the hook (3.0/3.1)."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    HookMetaService.hook_meta_data.cache_clear()
    [aep] = [hook for hook in HookMetaService.hook_meta_data() if hook.connection_type == "aep"]
    if not version_compat.AIRFLOW_V_3_1_PLUS and importlib.util.find_spec("wtforms") is None:
        # Airflow 3.0's UI reads every hook's form through WTForms and Flask-AppBuilder (the FAB
        # provider): without them it shows no provider's fields and keeps the Extra box, so the
        # connection is entered as JSON there, and nothing fails.
        assert (aep.extra_fields, aep.standard_fields) == (None, None)
        return

    assert set(aep.extra_fields or {}) >= {"org_id", "sandbox_name", "scopes", "timeout", "ims_url"}
    assert aep.standard_fields is not None
    assert aep.standard_fields.login is not None
    assert aep.standard_fields.login.title == "Client ID"
    assert aep.standard_fields.url_schema is not None
    assert aep.standard_fields.url_schema.hidden
