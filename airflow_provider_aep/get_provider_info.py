"""What Airflow's ProvidersManager learns about this package (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_aep import __version__

PACKAGE = "airflow_provider_aep"
INTEGRATION = "Adobe Experience Platform"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-aep",
        "name": "Adobe Experience Platform",
        "description": "Export AEP datasets and activate audiences through the Flow Service API, "
        "and watch dataflow runs until their record counts appear.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://experienceleague.adobe.com/docs/experience-platform/destinations/api/export-datasets.html",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    f"{PACKAGE}.operators.connections",
                    f"{PACKAGE}.operators.dataflows",
                    f"{PACKAGE}.operators.datasets",
                    f"{PACKAGE}.operators.runs",
                    f"{PACKAGE}.operators.updates",
                    f"{PACKAGE}.operators.segment_jobs",
                    f"{PACKAGE}.operators.adhoc_activation",
                    f"{PACKAGE}.operators.query",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [f"{PACKAGE}.sensors.dataflow_run", f"{PACKAGE}.sensors.scheduled_query"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [f"{PACKAGE}.hooks.aep", f"{PACKAGE}.hooks.aep_async"],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    f"{PACKAGE}.triggers.dataflow_run",
                    f"{PACKAGE}.triggers.segment_job",
                    f"{PACKAGE}.triggers.query",
                ],
            }
        ],
        "extra-links": [f"{PACKAGE}.links.AEPDataflowLink"],
        # Loaded from here only with lazy_discover_providers=False; the entry point
        # airflow.plugins (pyproject.toml) loads it otherwise, as Airflow's own providers do.
        "plugins": [{"name": "aep_health", "plugin-class": f"{PACKAGE}.plugins.aep_health.AEPHealthPlugin"}],
        "connection-types": [
            {
                "connection-type": "aep",
                "hook-class-name": f"{PACKAGE}.hooks.aep.AEPHook",
                "hook-name": "Adobe Experience Platform",
                "conn-fields": {
                    "org_id": {
                        "label": "Org ID",
                        "description": "Your IMS organization id, e.g. 1234ABCD5678@AdobeOrg.",
                        # No "null": the form marks it required and will not save it empty.
                        "schema": {"type": "string", "minLength": 1},
                    },
                    "sandbox_name": {
                        "label": "Sandbox",
                        "description": "Sandbox every call goes to unless a task overrides it.",
                        "schema": {"type": ["string", "null"], "default": "prod"},
                    },
                    "scopes": {
                        "label": "Scopes",
                        "description": "Comma-separated OAuth scopes of your Developer Console project.",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "openid,AdobeID,read_organizations,"
                            "additional_info.projectedProductContext,session",
                        },
                    },
                    "timeout": {
                        "label": "Read timeout (seconds)",
                        "description": "How long to wait for an answer before retrying (reads) or checking (creates).",
                        "schema": {"type": ["number", "null"], "default": 60},
                    },
                    "ims_url": {
                        "label": "IMS token URL",
                        "description": "Adobe IMS OAuth Server-to-Server token endpoint.",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "https://ims-na1.adobelogin.com/ims/token/v3",
                        },
                    },
                    "ui_url": {
                        "label": "Dataflow page URL",
                        "description": 'Optional: where the "AEP dataflow" link of a task goes, a URL '
                        "template with {org_id}, {sandbox} and {flow_id}. Empty: the dataflow in the AEP UI.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                # The port stays in the form: Airflow 3.3's Test in the connection list sends port 0
                # for a connection without one, which the api-server refuses as another endpoint.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "extra", "description"],
                    "relabeling": {
                        "login": "Client ID",
                        "password": "Client secret",
                        "host": "Platform URL",
                        "port": "Platform port",
                    },
                    "placeholders": {
                        "login": "Client ID from the Adobe Developer Console",
                        "password": "Client secret (OAuth Server-to-Server credential)",
                        "host": "https://platform.adobe.io",
                        "port": "443 (0: the port of the Platform URL)",
                        "org_id": "1234ABCD5678EF90@AdobeOrg",
                        "sandbox_name": "prod",
                    },
                },
            }
        ],
    }
