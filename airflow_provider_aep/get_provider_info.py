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
                ],
            }
        ],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.sensors.dataflow_run"]}],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.hooks.aep"]}],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.triggers.dataflow_run"]}
        ],
        "extra-links": [f"{PACKAGE}.links.AEPDataflowLink"],
        "connection-types": [
            {
                "connection-type": "aep",
                "hook-class-name": f"{PACKAGE}.hooks.aep.AEPHook",
                "hook-name": "Adobe Experience Platform",
                "conn-fields": {
                    "org_id": {
                        "label": "Org ID",
                        "description": "Your IMS organization id, e.g. 1234ABCD5678@AdobeOrg.",
                        "schema": {"type": ["string", "null"]},
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
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra", "description"],
                    "relabeling": {"login": "Client ID", "password": "Client secret", "host": "Platform URL"},
                    "placeholders": {
                        "login": "Client ID from the Adobe Developer Console",
                        "password": "Client secret (OAuth Server-to-Server credential)",
                        "host": "https://platform.adobe.io",
                        "org_id": "1234ABCD5678EF90@AdobeOrg",
                        "sandbox_name": "prod",
                    },
                },
            }
        ],
    }
