"""Every Airflow connection a DAG needs against an emulator, in one place.

The ``aep`` connection that points Airflow at the emulator, and one credentials connection per
destination (``aep_<destination>_credentials``, the name the example DAGs read) holding demo
credentials in the shapes the destinations' auth specs demand. The command line prints them as
shell lines, and ``make demo`` and the tests put them in Airflow's environment: one builder, so
what a user is told to export is what the demo and the tests run with.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from aep_emulator.config import EmulatorConfig

#: Demo credentials: the shapes the connection specs demand, accepted by the emulator only.
DEMO_CREDENTIALS: dict[str, dict[str, Any]] = {
    "amazon_s3": {
        "conn_type": "aws",
        "login": "AKIAIOSFODNN7EXAMPLE",
        "password": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12",
    },
    "azure_blob": {
        "conn_type": "generic",
        "password": "DefaultEndpointsProtocol=https;AccountName=demo;AccountKey=ZGVtbw==;",
    },
    "adls_gen2": {
        "conn_type": "generic",
        "login": "11111111-2222-3333-4444-555555555555",
        "password": "demo-service-principal-key",
        "host": "https://demo.dfs.core.windows.net",
        "extra": {"tenant": "demo.onmicrosoft.com"},
    },
    "data_landing_zone": {"conn_type": "generic"},
    "google_cloud_storage": {
        "conn_type": "generic",
        "login": "GOOG1EDEMOACCESSKEYID",
        "password": "demo-gcs-secret-access-key",
    },
    "sftp": {
        "conn_type": "sftp",
        "login": "exporter",
        "password": "demo-sftp-password",
        "host": "sftp.example.com",
    },
    # Audience destinations; the email-marketing ones store files on S3 or SFTP.
    "adobe_campaign": {
        "conn_type": "aws",
        "login": "AKIACAMPAIGNDEMOKEY1",
        "password": "demo-campaign-s3-secret",
    },
    "amazon_s3_audiences": {
        "conn_type": "aws",
        "login": "AKIAIOSFODNN7EXAMPLE",
        "password": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12",
    },
    "azure_blob_audiences": {
        "conn_type": "wasb",
        "password": "DefaultEndpointsProtocol=https;AccountName=demo;AccountKey=ZGVtbw==;",
    },
    "oracle_eloqua": {
        "conn_type": "sftp",
        "login": "eloqua",
        "password": "demo-eloqua-password",
        "host": "eloqua.example.com",
        "extra": {"host": "sftp.eloqua.example.com"},
    },
    "oracle_responsys": {
        "conn_type": "sftp",
        "login": "responsys",
        "password": "demo-responsys-password",
        "host": "responsys.example.com",
        "extra": {"host": "sftp.responsys.example.com"},
    },
    "salesforce_marketing_cloud": {
        "conn_type": "aws",
        "login": "AKIASFMCDEMOKEY00001",
        "password": "demo-sfmc-s3-secret",
    },
    "sftp_audiences": {
        "conn_type": "sftp",
        "login": "audience-exporter",
        "password": "demo-audience-sftp-password",
        "host": "sftp.example.com",
    },
}

#: Connections the example DAGs read by another name: the key-rotation example's new S3 keys.
EXAMPLE_CONNECTIONS: dict[str, dict[str, Any]] = {
    "aws_aep_export": {
        "conn_type": "aws",
        "login": "AKIAROTATEDDEMOKEY01",
        "password": "demo-rotated-s3-secret-access-key",
    },
}


def aep_connection(config: EmulatorConfig, sandbox: str = "prod") -> str:
    """The ``AIRFLOW_CONN_AEP_DEFAULT`` value that points Airflow at this emulator."""
    return json.dumps(
        {
            "conn_type": "aep",
            "login": config.client_id,
            "password": config.client_secret,
            "host": config.url,
            "extra": {
                "org_id": config.org_id,
                "sandbox_name": sandbox,
                "ims_url": f"{config.url}/ims/token/v3",
                # The "AEP dataflow" link opens the emulator's page of the flow.
                "ui_url": f"{config.url}/_emulator/ui/flows/{{flow_id}}",
                # Scheduled runs come an hour a second here: a sensor sleeping until the next
                # scheduled start on the wall clock would sleep through them. At time scale 1
                # the emulator's clock is the wall clock, and sensors sleep as against AEP.
                "schedule_aware_waits": config.time_scale == 1,
            },
        }
    )


def credentials_conn_id(destination: str) -> str:
    """The Airflow connection the example DAGs read a destination's credentials from."""
    return f"aep_{destination}_credentials"


def env_name(conn_id: str) -> str:
    """The environment variable Airflow reads a connection from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def credentials_connections(destination: str | None = None) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` name → value of the demo credentials: every destination's (and the
    examples' other connections), or ``destination``'s alone."""
    if destination is not None:
        return {env_name(credentials_conn_id(destination)): json.dumps(DEMO_CREDENTIALS[destination])}
    conns = {credentials_conn_id(key): conn for key, conn in DEMO_CREDENTIALS.items()}
    conns.update(EXAMPLE_CONNECTIONS)
    return {env_name(conn_id): json.dumps(conn) for conn_id, conn in conns.items()}


def airflow_connections(config: EmulatorConfig, sandbox: str = "prod") -> dict[str, str]:
    """Every connection a DAG needs against this emulator: ``aep_default`` first, then the
    credentials of every destination."""
    return {env_name("aep_default"): aep_connection(config, sandbox), **credentials_connections()}


def shell_exports(variables: Mapping[str, str]) -> str:
    """``export NAME='value'`` lines a POSIX shell can source or ``eval``."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())
