"""The destination pages (docs/destinations/) cannot drift from the catalog or the credential mapping.

Each page has a block between ``.. BEGIN GENERATED`` and ``.. END GENERATED`` rendered here from
the catalog (auth specs, params, location keys, spec ids) and from :data:`SOURCES` (which Airflow
connection field becomes which auth param), and an example whose connection and location this
test runs through the provider's own checks. ``AEP_WRITE_DOCS=1`` rewrites the blocks in place;
the prose around them is written by hand.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from airflow.models import Connection

from airflow_provider_aep.catalog import DESTINATIONS, MIGRATION_GUIDE_URL, Destination
from airflow_provider_aep.operators.connections import AEPCreateTargetConnectionOperator
from airflow_provider_aep.payloads.connections import storage_location_keys
from airflow_provider_aep.utils.credentials import PREFERRED_AUTH_TYPES, SOURCES, auth_from_connection

PAGES = Path(__file__).resolve().parents[2] / "docs" / "destinations"
BEGIN = ".. BEGIN GENERATED from the catalog by tests/unit/test_destination_docs.py (AEP_WRITE_DOCS=1)"
END = ".. END GENERATED"

#: Per destination: the Airflow connection of the example (as AIRFLOW_CONN_ JSON) and its location.
#: Made-up values in the shapes AEP's specs demand.
EXAMPLES: dict[str, tuple[dict[str, Any] | None, dict[str, str]]] = {
    "amazon_s3": (
        {"conn_type": "aws", "login": "AKIAIOSFODNN7EXAMPLE", "password": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12"},
        {"bucketName": "acme-exports", "path": "aep/daily"},
    ),
    "azure_blob": (
        {"conn_type": "wasb", "extra": {"connection_string": "DefaultEndpointsProtocol=https;AccountName=acmestore;AccountKey=<account key>;EndpointSuffix=core.windows.net"}},
        {"container": "aep-exports", "path": "daily"},
    ),
    "adls_gen2": (
        {"conn_type": "adls", "login": "<application (client) id>", "password": "<client secret>", "host": "acmelake", "extra": {"tenant_id": "<tenant id>"}},
        {"path": "aep/daily"},
    ),
    "data_landing_zone": (None, {"path": "aep/daily"}),
    "google_cloud_storage": (
        {"conn_type": "generic", "login": "GOOG1E<HMAC access id>", "password": "<HMAC secret>"},
        {"bucketName": "acme-exports", "path": "aep/daily"},
    ),
    "sftp": (
        {"conn_type": "sftp", "login": "exporter", "host": "sftp.example.com", "extra": {"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----\n"}},
        {"remotePath": "/exports/aep"},
    ),
    "adobe_campaign": (
        {"conn_type": "aws", "login": "AKIAIOSFODNN7EXAMPLE", "password": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12"},
        {"bucketName": "acme-campaign", "path": "aep/audiences"},
    ),
    "amazon_s3_audiences": (
        {"conn_type": "aws", "login": "AKIAIOSFODNN7EXAMPLE", "password": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12"},
        {"bucketName": "acme-audiences", "path": "aep/audiences"},
    ),
    "azure_blob_audiences": (
        {"conn_type": "wasb", "login": "acmestore", "password": "<account key>"},
        {"container": "aep-audiences", "path": "daily"},
    ),
    "oracle_eloqua": (
        {"conn_type": "sftp", "login": "eloqua", "password": "<password>", "host": "sftp.eloqua.example.com"},
        {"remotePath": "/imports/aep"},
    ),
    "oracle_responsys": (
        {"conn_type": "sftp", "login": "responsys", "password": "<password>", "host": "sftp.responsys.example.com"},
        {"remotePath": "/imports/aep"},
    ),
    "salesforce_marketing_cloud": (
        {"conn_type": "aws", "login": "AKIAIOSFODNN7EXAMPLE", "password": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12"},
        {"bucketName": "acme-sfmc", "path": "aep/audiences"},
    ),
    "sftp_audiences": (
        {"conn_type": "sftp", "login": "audience-exporter", "password": "<password>", "host": "sftp.example.com"},
        {"remotePath": "/audiences"},
    ),
}  # fmt: skip

_LITERAL = re.compile(r"(?<=Extra → )\w+|https://[^\s,)]+|\b[a-z0-9]+(?:_[a-z0-9]+)+\b")


def _literal(text: str) -> str:
    """Airflow field names and URLs as reST literals (a ``name_`` would be a link otherwise)."""
    return _LITERAL.sub(lambda m: f"``{m.group(0)}``", text)


def _connection_types(auth_type: str) -> list[str]:
    return [conn_type for conn_type, types in PREFERRED_AUTH_TYPES.items() if auth_type in types]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines += [f"   * - {row[0]}", *(f"     - {cell}" for cell in row[1:])]
    return [*lines, ""]


def render(destination: Destination) -> str:
    """The generated block of a destination's page."""
    workflow = "dataset export" if destination.workflow == "datasets" else "audience activation"
    aliases = ", ".join(f"``{a}``" for a in destination.aliases)
    lines = [
        BEGIN,
        "",
        f":destination: ``{destination.key}``" + (f" (also {aliases})" if aliases else ""),
        f":workflow: {workflow}",
        f":connection spec: ``{destination.connection_spec_id}``",
        f":flow spec: ``{destination.flow_spec_id}``",
        *(
            [f':audience flow spec: ``{destination.audience_flow_spec_id}`` (``export="audiences"``)']
            if destination.audience_flow_spec_id
            else []
        ),
        *(
            [
                f':legacy: Adobe moves its users to ``{destination.replaced_by}`` (``export="audiences"``): {MIGRATION_GUIDE_URL}'
            ]
            if destination.legacy
            else []
        ),
        "",
        "Credentials",
        "-----------",
        "",
    ]
    if not destination.auth_specs:
        lines += [
            "AEP provides this storage: the base connection takes no credentials and no",
            "``credentials_conn_id``.",
            "",
        ]
    for spec in destination.auth_specs:
        types = " or ".join(f"``{t}``" for t in _connection_types(spec.type))
        lines += [
            f"Auth spec ``{spec.name}`` (AEP type ``{spec.type}``), from an Airflow connection of type "
            f"{types + ' (or ' if types else ''}``generic``{')' if types else ''}:",
            "",
        ]
        rows = []
        for param in spec.params:
            places = [s.where for s in SOURCES.get(param, ())]
            if not any(p.startswith(f"Extra → {param}") for p in places):
                places.append(f"Extra → {param}")
            rows.append(
                [
                    f"``{param}``",
                    "yes" if param in spec.required else "no",
                    "yes" if param in spec.secret_params else "no",
                    _literal("; or ".join(places)),
                ]
            )
        lines += _table(["AEP auth param", "required", "secret", "from the Airflow connection"], rows)
        patterns = [
            f"``{param}`` must match ``{rule['pattern']}``"
            for param, rule in spec.schema.get("properties", {}).items()
            if rule.get("pattern")
        ]
        if patterns:
            lines += ["Checked before any request, as AEP's spec demands: " + "; ".join(patterns) + ".", ""]
    lines += ["Location", "--------", ""]
    props = destination.target_schema.get("properties", {})
    modes = storage_location_keys(destination)
    if modes:
        rows = [[f"``{mode}``", ", ".join(f"``{k}``" for k in keys)] for mode, keys in modes.items()]
        lines += [
            "The storage mode (``mode``) follows from the location keys given:",
            "",
            *_table(["mode", "location keys"], rows),
        ]
    rows = [
        [
            f"``{key}``",
            str(props.get(key, {}).get("title", "")),
            "yes" if key in destination.target_schema.get("required", ()) else "with its mode",
        ]
        for key in _all_location_keys(destination)
    ]
    lines += _table(["location key", "what", "required"], rows)
    lines += [*_example(destination), END]
    return "\n".join(lines)


def _example(destination: Destination) -> list[str]:
    conn_json, location = EXAMPLES[destination.key]
    conn_id = f"aep_{destination.key}_credentials"
    lines = ["Example", "-------", ""]
    if conn_json is not None:
        lines += [
            "The credentials as an Airflow connection (here from the environment; the UI and",
            "``airflow connections add`` store the same fields):",
            "",
            ".. code-block:: bash",
            "",
            f"   export AIRFLOW_CONN_{conn_id.upper()}='{json.dumps(conn_json)}'",
            "",
        ]
    credentials = [f'       credentials_conn_id="{conn_id}",'] if conn_json is not None else []
    location_text = json.dumps(location)
    return [
        *lines,
        ".. code-block:: python",
        "",
        "   base = AEPCreateBaseConnectionOperator(",
        '       task_id="base",',
        f'       destination="{destination.key}",',
        f'       name="{destination.name} base connection",',
        *credentials,
        "   )",
        "   target = AEPCreateTargetConnectionOperator(",
        '       task_id="target",',
        f'       destination="{destination.key}",',
        f'       name="{destination.name} target connection",',
        "       base_connection_id=base.output,",
        f"       location={location_text},",
        "   )",
        "",
    ]


def _all_location_keys(destination: Destination) -> list[str]:
    keys = dict.fromkeys(destination.location_keys)
    for mode_keys in storage_location_keys(destination).values():
        keys.update(dict.fromkeys(mode_keys))
    return list(keys)


def render_index() -> str:
    rows = []
    for d in DESTINATIONS.values():
        auth = ", ".join(f"``{s.name}``" for s in d.auth_specs) or "none"
        rows.append(
            [f":doc:`{d.key}`", d.name, "datasets" if d.workflow == "datasets" else "audiences", auth]
        )
    return "\n".join([BEGIN, "", *_table(["destination", "name", "exports", "auth specs"], rows), END])


def _generated(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def _check_or_write(page: Path, expected: str) -> None:
    text = page.read_text(encoding="utf-8")
    if os.environ.get("AEP_WRITE_DOCS") == "1":
        page.write_text(text.replace(_generated(text), expected), encoding="utf-8")
        return
    assert _generated(text) == expected, f"{page.name} drifted from the catalog: AEP_WRITE_DOCS=1 rewrites it"


@pytest.mark.parametrize("key", list(DESTINATIONS))
def test_each_destination_page_shows_the_catalogs_auth_params_and_location_keys(key):
    destination = DESTINATIONS[key]
    page = PAGES / f"{key}.rst"
    assert page.exists(), f"no page for destination {key!r}"
    _check_or_write(page, render(destination))
    text = page.read_text(encoding="utf-8")
    for spec in destination.auth_specs:
        assert f"``{spec.name}``" in text
        for param in spec.params:
            assert f"``{param}``" in text
    for location_key in destination.location_keys:
        assert f"``{location_key}``" in text
    assert f'destination="{key}"' in text, "the page's example uses another destination"


def test_the_index_lists_every_destination_page():
    index = PAGES / "index.rst"
    _check_or_write(index, render_index())
    text = index.read_text(encoding="utf-8")
    for key in DESTINATIONS:
        assert f"   {key}\n" in text, f"{key} is not in the index's toctree"
    assert {p.stem for p in PAGES.glob("*.rst")} == {"index", *DESTINATIONS}


@pytest.mark.parametrize("key", list(DESTINATIONS))
def test_each_pages_example_connection_and_location_pass_the_providers_checks(key):
    """The example a page shows gives the auth params the destination needs and a valid location."""
    destination = DESTINATIONS[key]
    conn_json, location = EXAMPLES[key]
    text = (PAGES / f"{key}.rst").read_text(encoding="utf-8")
    for location_key, value in location.items():
        assert f'"{location_key}": "{value}"' in text
    AEPCreateTargetConnectionOperator(
        task_id="t", destination=key, name="n", base_connection_id="b-1", location=location
    )  # checks the location when the DAG is parsed
    if conn_json is None:
        assert not destination.auth_specs
        return
    assert json.dumps(conn_json) in text
    conn = Connection(conn_id=f"aep_{key}_credentials", **conn_json)
    spec_name, params = auth_from_connection(conn, destination, None)
    assert set(destination.auth_spec(spec_name).required) <= set(params)
