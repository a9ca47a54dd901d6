"""Where a dataflow's files land, named as Airflow's storage providers and OpenLineage name them.

The sensor emits an asset event for this location when a run succeeds, so a downstream DAG
scheduled on an :class:`~airflow.sdk.AssetAlias` learns the real URI and the run's counts
without knowing either in advance. Free of I/O: the hook reads the entities, this module names.

=====================================  ==============================================================
Destination                            URI
=====================================  ==============================================================
Amazon S3 (and S3-backed audiences)    ``s3://<bucketName>/<path>``
Google Cloud Storage                   ``gs://<bucketName>/<path>``
Azure Blob (datasets and audiences)    ``wasbs://<container>@<account>.blob.core.windows.net/<path>``
ADLS Gen2                              ``abfss://<filesystem>@<account>.dfs.core.windows.net/<path>``
SFTP (and SFTP-backed audiences)       ``sftp://<domain>/<remotePath>``
Data Landing Zone                      ``aep-dlz://<org id>/<sandbox>/<path>``
=====================================  ==============================================================

AEP keeps an Azure connection string secret, so the storage account is read from
``storage_account`` when given; without it the Azure Blob URI is ``wasbs://<container>/<path>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_aep.catalog import Destination

#: At most this many file URIs travel in an asset event's extra (it is stored in the metadata DB).
MAX_FILES_IN_EVENT = 1000
_ACCOUNT_NAME = re.compile(r"(?:^|;)\s*AccountName=([A-Za-z0-9-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class ExportLocation:
    """A destination folder as ``scheme://authority/path``.

    :param scheme: ``s3``, ``gs``, ``wasbs``, ``abfss``, ``sftp`` or ``aep-dlz``.
    :param authority: the bucket, ``container@account`` host, SFTP host or org.
    :param path: the folder inside it, without leading or trailing ``/``.
    :param destination: the catalog key of the destination (``amazon_s3``, ...).
    :param sandbox: the AEP sandbox the flow lives in.
    """

    scheme: str
    authority: str
    path: str
    destination: str
    sandbox: str

    @property
    def namespace(self) -> str:
        """``scheme://authority``: OpenLineage's dataset namespace for the storage."""
        return f"{self.scheme}://{self.authority}"

    @property
    def uri(self) -> str:
        """The folder's URI, as an :class:`~airflow.sdk.Asset` takes it."""
        return f"{self.namespace}/{_quoted(self.path)}" if self.path else self.namespace

    def file_uri(self, relative: str) -> str:
        """The URI of a file below this folder."""
        return f"{self.uri}/{_quoted(relative.strip('/'))}"


def aep_dataset_uri(org_id: str, sandbox: str, dataset_id: str) -> str:
    """The asset URI of an AEP dataset: ``aep://<org id>/<sandbox>/<dataset id>``, the namespace
    and name OpenLineage gives it (a query's output, a dataset export's input).

    The org id's ``@`` is written ``%40``: Airflow 3.0 reads ``0123ABCD@AdobeOrg`` in an
    authority as user info and drops it, and two orgs' datasets would share one asset.

    :param org_id: the IMS org, e.g. ``0123ABCD@AdobeOrg``.
    :param sandbox: the sandbox, e.g. ``prod``.
    :param dataset_id: the dataset.
    :return: the URI, e.g. ``aep://0123ABCD%40AdobeOrg/prod/6b0f…``.
    """
    return f"aep://{quote(org_id, safe='')}/{quote(sandbox, safe='')}/{quote(dataset_id, safe='')}"


def _quoted(path: str) -> str:
    return quote(path, safe="/=-_.~")


def _clean(path: Any) -> str:
    return "/".join(part for part in str(path or "").split("/") if part not in ("", ".", ".."))


def storage_account_of(base_params: Mapping[str, Any]) -> str | None:
    """The Azure storage account a connection string or an endpoint URL names, when AEP shows it."""
    match = _ACCOUNT_NAME.search(str(base_params.get("connectionString") or ""))
    if match:
        return match.group(1)
    host = urlsplit(str(base_params.get("url") or "")).hostname or ""
    return host.split(".", 1)[0] or None


def export_location(
    destination: Destination,
    target_params: Mapping[str, Any],
    base_params: Mapping[str, Any],
    *,
    sandbox: str,
    org_id: str,
    storage_account: str | None = None,
) -> ExportLocation:
    """The folder a flow to ``destination`` writes to.

    :param destination: the flow's destination, from the catalog.
    :param target_params: the target connection's ``params`` (the location keys).
    :param base_params: the base connection's ``auth.params`` as AEP shows them (secrets hidden);
        only hosts and account names are read from them.
    :param sandbox: the sandbox the flow lives in.
    :param org_id: the IMS org (names the Data Landing Zone).
    :param storage_account: the Azure storage account, where AEP hides it.
    :return: the location.
    """
    path = _clean(target_params.get("path") or target_params.get("remotePath"))

    def at(scheme: str, authority: str, folder: str = path) -> ExportLocation:
        return ExportLocation(scheme, authority, folder, destination.key, sandbox)

    account = storage_account or storage_account_of(base_params)
    if destination.key == "data_landing_zone":
        return at("aep-dlz", org_id, _clean(f"{sandbox}/{path}"))
    if destination.key == "adls_gen2":
        endpoint = urlsplit(str(base_params.get("url") or ""))
        folders = (_clean(endpoint.path) + "/" + path).strip("/").split("/", 1)
        filesystem, rest = folders[0], folders[1] if len(folders) > 1 else ""
        return at("abfss", f"{filesystem}@{account}.dfs.core.windows.net" if account else filesystem, rest)
    if target_params.get("bucketName"):
        scheme = "gs" if destination.key == "google_cloud_storage" else "s3"
        return at(scheme, str(target_params["bucketName"]))
    if target_params.get("container"):
        container = str(target_params["container"])
        return at("wasbs", f"{container}@{account}.blob.core.windows.net" if account else container)
    host = str(base_params.get("domain") or base_params.get("host") or "").strip("/")
    port = base_params.get("port")
    return at("sftp", f"{host}:{port}" if host and port else host or "unknown-host")


def files_of(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The files a run reports in its target summaries: ``{"path", "records"}`` each.

    AEP's run metrics name a file in a target summary's entity summaries where the destination
    reports one (``path``, below the target connection's folder); audience runs name segments
    there instead, and those are left out.
    """
    files = []
    for target in ((run.get("metrics") or {}).get("recordSummary") or {}).get("targetSummaries") or []:
        for entity in target.get("entitySummaries") or []:
            path = entity.get("path") if isinstance(entity, Mapping) else None
            if isinstance(path, str) and path.strip("/"):
                files.append({"path": path.strip("/"), "records": entity.get("outputRecordCount")})
    return files


def event_extra(
    summary: Mapping[str, Any], location: ExportLocation, files: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """What a downstream DAG reads from the asset event: the run, its counts, where its files are.

    Only ids, counts, times and locations: nothing secret. At most :data:`MAX_FILES_IN_EVENT`
    file URIs are listed; ``files_listed`` says how many of ``files_out`` that is.
    """
    keys = (
        "flow_id", "run_id", "status", "started_at", "completed_at", "input_records", "output_records",
        "skipped_records", "failed_records", "output_bytes", "files_out", "attempts",
    )  # fmt: skip
    listed = [
        {"uri": location.file_uri(str(f["path"])), "path": f["path"], "records": f.get("records")}
        for f in files[:MAX_FILES_IN_EVENT]
    ]
    return {
        **{key: summary.get(key) for key in keys},
        "location": location.uri,
        "destination": location.destination,
        "sandbox": location.sandbox,
        "files": listed,
        "files_listed": len(listed),
        "datasets": [
            {"id": s.get("id"), "records": s.get("output_records")}
            for s in summary.get("sources") or []
            if not summary.get("segments")
        ],
        "segments": [dict(s) for s in summary.get("segments") or []],
    }
