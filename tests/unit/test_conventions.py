"""Airflow conventions every operator and the sensor keep: templated connection ids, readable
rendered fields, parse-time checks that know a literal from an XComArg, no ``assert`` in code."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pendulum
import pytest
from airflow.sdk import DAG, BaseOperator

from airflow_provider_aep.get_provider_info import get_provider_info
from airflow_provider_aep.operators import connections, dataflows, datasets
from airflow_provider_aep.operators.base import AEPBaseOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from airflow_provider_aep.tasks.mixins import is_literal

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_aep"


def listed_modules(kind: str) -> list[str]:
    """The modules the provider info lists under ``operators`` or ``sensors``: what Airflow knows."""
    return [module for entry in get_provider_info()[kind] for module in entry["python-modules"]]


def classes_defined_in(module_names: list[str]) -> list[type]:
    modules = [importlib.import_module(name) for name in module_names]
    return [
        cls
        for module in modules
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, BaseOperator) and cls.__module__ == module.__name__
    ]


OPERATORS = classes_defined_in(listed_modules("operators")) + classes_defined_in(listed_modules("sensors"))


def test_the_provider_info_lists_every_operator_and_sensor_module():
    on_disk = {
        f"airflow_provider_aep.{folder}.{path.stem}"
        for folder in ("operators", "sensors")
        for path in (PACKAGE / folder).glob("*.py")
        if path.stem not in ("__init__", "base")
    }
    assert on_disk == set(listed_modules("operators")) | set(listed_modules("sensors"))
    names = {cls.__name__ for cls in OPERATORS}
    assert {  # the public names (DESIGN.md), found through the provider info
        "AEPCreateBaseConnectionOperator",
        "AEPCreateSourceConnectionOperator",
        "AEPCreateTargetConnectionOperator",
        "AEPCreateDataflowOperator",
        "AEPActivateSegmentsOperator",
        "AEPUpdateDataflowOperator",
        "AEPDeleteDataflowOperator",
        "AEPListDatasetsOperator",
        "AEPDataflowRunSensor",
        "AEPStartDataflowRunOperator",
        "AEPRetriggerDataflowRunOperator",
        "AEPUpdateBaseConnectionOperator",
    } <= names


def test_every_operator_and_the_sensor_template_their_connection_id():
    assert len(OPERATORS) >= 12
    for cls in OPERATORS:
        assert "aep_conn_id" in cls.template_fields, cls.__name__
        assert "sandbox_name" in cls.template_fields, cls.__name__


def test_every_operator_extends_execute_and_says_what_exists_when_it_fails():
    operators = [cls for cls in OPERATORS if issubclass(cls, AEPBaseOperator)]
    assert operators
    for cls in operators:
        assert "execute_step" not in vars(cls), cls.__name__
        assert getattr(cls.execute, "says_what_exists", False), (
            f"{cls.__name__}.execute lacks @says_what_exists"
        )


def imported_modules(path: Path) -> set[str]:
    """Every ``airflow_provider_aep`` module a file imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("airflow_provider_aep")
        ):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("airflow_provider_aep"))
    return found


def test_operators_and_sensors_are_siblings():
    """No operator module imports another (the base classes aside) or a sensor, and no sensor
    imports an operator: what they share is in tasks/ (an operator may defer to a trigger)."""
    wrong = []
    for path in sorted((PACKAGE / "operators").glob("*.py")):
        for name in imported_modules(path):
            own = f"airflow_provider_aep.operators.{path.stem}"
            if name.startswith("airflow_provider_aep.operators.") and not name.startswith(
                ("airflow_provider_aep.operators.base", own)
            ):
                wrong.append(f"operators/{path.name} imports {name}")
            if name.startswith("airflow_provider_aep.sensors"):
                wrong.append(f"operators/{path.name} imports {name}")
    for path in sorted((PACKAGE / "sensors").glob("*.py")):
        wrong += [
            f"sensors/{path.name} imports {name}"
            for name in imported_modules(path)
            if name.startswith("airflow_provider_aep.operators")
        ]
    assert wrong == []


#: The provider's layers, lowest first: a module imports only from its own layer's unit or a
#: lower layer, so the package reads from the ground up (``catalog <- payloads <- hooks <-
#: operators/sensors/triggers``, with the shared helpers in between).
LAYERS: list[set[str]] = [
    {"redaction", "version_compat", "links", "get_provider_info"},
    {"exceptions"},
    {"catalog"},
    {"payloads", "assets"},
    {"utils"},
    {"hooks"},
    {"triggers", "lineage", "tasks"},
    {"operators", "sensors"},
    {"plugins"},
]


def layer_of(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


#: The package's own modules and subpackages, as found on disk.
UNITS = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in PACKAGE.rglob("*.py")} - {
    "__init__"
}


def test_every_module_has_a_layer():
    assert set().union(*LAYERS) == UNITS


def test_lower_layers_import_no_higher_one():
    """Every import of a module of the provider runs down the layers (or stays in its own unit):
    utils, payloads, the catalog and the hooks never import an operator, a sensor, a trigger or
    the task plumbing; the exceptions import only the redaction."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if unit == "__init__":
            continue
        for name in imported_modules(path):
            parts = name.split(".")
            if len(parts) < 2 or parts[1] == unit or parts[1] not in UNITS:
                continue  # the package's face (``__version__``) or the unit's own modules
            if layer_of(parts[1]) >= layer_of(unit):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (connections.AEPCreateBaseConnectionOperator, {"auth_params"}),
        (connections.AEPCreateSourceConnectionOperator, {"datasets"}),
        (connections.AEPCreateTargetConnectionOperator, {"location", "extra_params"}),
        (dataflows.AEPActivateSegmentsOperator, {"segments", "profile_attributes", "mandatory_fields"}),
        (datasets.AEPListDatasetsOperator, {"names", "ids"}),
    ],
)
def test_dict_and_list_fields_render_as_json(cls, fields):
    assert {f for f, renderer in cls.template_fields_renderers.items() if renderer == "json"} >= fields
    assert set(cls.template_fields_renderers) <= set(cls.template_fields)


def test_a_templated_connection_id_is_the_one_the_hook_uses():
    with DAG("d", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
        sensor = AEPDataflowRunSensor(task_id="s", flow_id="f-1", aep_conn_id="{{ params.conn }}")
    sensor.render_template_fields({"params": {"conn": "aep_eu"}})
    assert sensor.hook.aep_conn_id == "aep_eu"


def test_is_literal_tells_xcomargs_and_templates_from_values():
    with DAG("d", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
        upstream = AEPDataflowRunSensor(task_id="s", flow_id="f-1")
    assert not is_literal(upstream.output)
    assert not is_literal({"ids": [upstream.output]})
    assert not is_literal("{{ ti.xcom_pull('x') }}")
    assert is_literal({"bucketName": "b", "path": ["a", 1, None]})
    assert is_literal(pendulum.datetime(2026, 1, 1))


def test_no_assert_statement_outside_tests():
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert found == []
