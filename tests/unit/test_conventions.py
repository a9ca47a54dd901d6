"""Airflow conventions every operator and the sensor keep: templated connection ids, readable
rendered fields, parse-time checks that know a literal from an XComArg, no ``assert`` in code."""

from __future__ import annotations

import ast
from pathlib import Path

import pendulum
import pytest
from airflow.sdk import DAG, BaseOperator

from airflow_provider_aep.operators import connections, dataflows, datasets
from airflow_provider_aep.operators._base import is_literal
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_aep"
OPERATORS = [
    cls
    for module in (connections, dataflows, datasets)
    for cls in vars(module).values()
    if isinstance(cls, type) and issubclass(cls, BaseOperator) and cls.__module__ == module.__name__
] + [AEPDataflowRunSensor]


def test_every_operator_and_the_sensor_template_their_connection_id():
    assert len(OPERATORS) == 10
    for cls in OPERATORS:
        assert "aep_conn_id" in cls.template_fields, cls.__name__
        assert "sandbox_name" in cls.template_fields, cls.__name__


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
