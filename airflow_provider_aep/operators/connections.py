"""Operators for the tutorial's connection steps: base (credentials), source (what), target (where).

Each validates its input before any request (literals already when the DAG is parsed), creates
one entity, returns its id (XCom ``return_value``), pushes the etag under ``etag``, and logs
what it created, never a credential.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.operators.base import AEPCreateOperator
from airflow_provider_aep.tasks.mixins import (
    MasksRenderedAuthParamsMixin,
    check_destination_when_literal,
    check_id_when_literal,
    check_when_literal,
    says_what_exists,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class AEPCreateBaseConnectionOperator(MasksRenderedAuthParamsMixin, AEPCreateOperator):
    """Create a base connection: the credentials AEP keeps for a destination (``POST /connections``).

    Returns the base connection's id. Takes the parameters of :class:`.AEPCreateOperator` too.

    :param destination: where the data goes: a catalog key or one of its aliases (case and
        surrounding spaces ignored), or a raw connection spec id. Dataset exports: ``amazon_s3``
        (or ``s3``), ``azure_blob``, ``adls_gen2`` (or ``adls``), ``data_landing_zone`` (or
        ``dlz``), ``google_cloud_storage`` (or ``gcs``), ``sftp``. Audiences:
        ``adobe_campaign`` (or ``campaign``), ``amazon_s3_audiences`` (or ``s3_audiences``),
        ``azure_blob_audiences``, ``oracle_eloqua`` (or ``eloqua``), ``oracle_responsys`` (or
        ``responsys``), ``salesforce_marketing_cloud`` (or ``sfmc``), ``sftp_audiences``. A
        literal value is checked at DAG parse; an unknown one is refused with a "did you mean".
    :param name: the base connection's name; with ``if_exists="reuse"`` it is what finds the
        one a previous run created, which must have the same description and the same auth
        params where AEP shows them (secrets it hides cannot be compared).
    :param description: shown in the AEP UI.
    :param auth_params: the auth spec's params; prefer ``credentials_conn_id`` for secrets.
    :param credentials_conn_id: an Airflow connection holding the credentials (its ``extra`` by
        AEP param name, or login/password/host mapped per auth spec).
    :param auth_spec_name: which auth spec; defaulted when the destination has one, and for SFTP
        chosen by the params given (password or SSH key).
    """

    entity_name = "base connection"
    template_fields: Sequence[str] = (
        "destination",
        "name",
        "description",
        "auth_spec_name",
        "auth_params",
        "credentials_conn_id",
        "sandbox_name",
        "aep_conn_id",
    )
    template_fields_renderers = {"auth_params": "json"}
    ui_color = "#fbe3d3"

    def __init__(
        self,
        *,
        destination: str,
        name: str,
        description: str | None = None,
        auth_spec_name: str | None = None,
        auth_params: Mapping[str, Any] | None = None,
        credentials_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:

        super().__init__(**kwargs)
        self.destination = destination
        self.name = name
        self.description = description
        self.auth_spec_name = auth_spec_name
        self.auth_params = auth_params
        self.credentials_conn_id = credentials_conn_id
        # The destination on its own, whatever else is templated or comes from a connection.
        check_destination_when_literal(destination)
        if credentials_conn_id is None:
            check_when_literal(
                {
                    "destination": destination,
                    "name": name,
                    "auth_params": auth_params,
                    "auth_spec_name": auth_spec_name,
                },
                lambda: self._check_arguments(dict(auth_params or {})),
            )

    def _check_arguments(self, params: dict[str, Any]) -> None:
        from airflow_provider_aep.catalog import resolve_destination
        from airflow_provider_aep.payloads.connections import check_base_connection, require_text

        spec_id, _ = resolve_destination(self.destination)
        require_text("name", self.name)
        check_base_connection(
            connection_spec_id=spec_id,
            auth_spec_name=self.auth_spec_name or None,
            auth_params=params,
        )

    def _body(self, params: dict[str, Any]) -> dict[str, Any]:
        from airflow_provider_aep.catalog import resolve_destination
        from airflow_provider_aep.payloads.connections import build_base_connection

        spec_id, _ = resolve_destination(self.destination)
        return build_base_connection(
            name=self.name,
            connection_spec_id=spec_id,
            auth_spec_name=self.auth_spec_name or None,
            auth_params=params,
            description=self.description,
        )

    def _params(self) -> dict[str, Any]:
        """Auth params: the given ones, completed from ``credentials_conn_id``."""
        from airflow_provider_aep.utils.credentials import auth_params_for

        self.auth_spec_name, params = auth_params_for(
            self.destination, self.auth_params, self.credentials_conn_id, self.auth_spec_name
        )
        return params

    @says_what_exists
    def execute(self, context: Context) -> str:
        body = self._body(self._params())
        created = self.create(context, "connections", body)
        self.log_created(
            created,
            "Created base connection %r (%s): %s",
            self.name,
            body.get("auth", {}).get("specName", "no auth"),
            created["id"],
        )
        self.push_etag(context, created.get("etag"))
        return str(created["id"])


class AEPCreateSourceConnectionOperator(AEPCreateOperator):
    """Create a source connection: the Data Lake datasets to export, or the Profile Store for audiences.

    Returns the source connection's id. Takes the parameters of :class:`.AEPCreateOperator` too.

    :param name: the source connection's name (what ``if_exists`` matches on; a same-named one
        must export the same datasets: AEP does not change them when it is reused).
    :param datasets: dataset ids, dataset names (resolved through the eligible-datasets list), or
        ``{"id", "name"}`` dicts such as AEPListDatasetsOperator returns. For the Data Lake.
    :param source: ``data_lake`` (default) or ``profile_store``.
    :param base_connection_id: the Profile Store base connection (for ``profile_store`` only);
        when not given, one is created (or reused) for it.
    :param create_base_connection: for ``profile_store``: True (default) makes or reuses a
        Profile Store base connection first, as the batch-activation tutorial does; False sends
        the form of Adobe's current audience-activation tutorial, with no base connection (AEP
        supplies it).
    :param description: shown in the AEP UI.
    """

    entity_name = "source connection"
    template_fields: Sequence[str] = (
        "name",
        "description",
        "datasets",
        "source",
        "base_connection_id",
        "sandbox_name",
        "aep_conn_id",
    )
    template_fields_renderers = {"datasets": "json"}
    ui_color = "#fbe3d3"

    def __init__(
        self,
        *,
        name: str,
        datasets: Sequence[str | Mapping[str, Any]] | None = None,
        description: str | None = None,
        source: str = "data_lake",
        base_connection_id: str | None = None,
        create_base_connection: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.datasets = datasets
        self.description = description
        self.source = source
        self.base_connection_id = base_connection_id
        self.create_base_connection = create_base_connection
        check_when_literal(
            {
                "name": name,
                "datasets": datasets,
                "source": source,
                "base_connection_id": base_connection_id,
                "create_base_connection": create_base_connection,
            },
            self._check_shape,
        )

    def _check_shape(self) -> None:
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.payloads.connections import build_data_lake_source_connection
        from airflow_provider_aep.utils.ids import check_id

        if self.source not in ("data_lake", "profile_store"):
            raise AEPValidationError("source", self.source, "'data_lake' or 'profile_store'")
        if self.source == "data_lake":
            if isinstance(self.datasets, str) or not self.datasets:
                raise AEPValidationError(
                    "datasets", self.datasets, "a non-empty list of dataset ids or names"
                )
            build_data_lake_source_connection(name=self.name, datasets=[_as_entry(d) for d in self.datasets])
        elif self.base_connection_id is not None:
            check_id("base_connection_id", self.base_connection_id)
        if not isinstance(self.create_base_connection, bool):
            raise AEPValidationError("create_base_connection", self.create_base_connection, "True or False")
        if self.base_connection_id and not self.create_base_connection:
            raise AEPValidationError(
                "base_connection_id",
                self.base_connection_id,
                "no base connection with create_base_connection=False (AEP supplies it)",
            )

    @says_what_exists
    def execute(self, context: Context) -> str:
        from airflow_provider_aep.payloads.connections import (
            build_data_lake_source_connection,
            build_profile_store_base_connection,
            build_profile_store_source_connection,
        )

        self._check_shape()
        if self.source == "profile_store":
            base = self.base_connection_id
            if not base and self.create_base_connection:
                body = build_profile_store_base_connection(name=f"{self.name} (Profile Store base)")
                made = self.create(context, "connections", body)
                base = made["id"]
                self.log_created(made, "Created Profile Store base connection %s", base)
            body = build_profile_store_source_connection(
                name=self.name, base_connection_id=base, description=self.description
            )
        else:
            body = build_data_lake_source_connection(
                name=self.name, datasets=self._resolve(self.datasets or []), description=self.description
            )
        created = self.create(context, "sourceConnections", body)
        self.log_created(created, "Created source connection %r: %s", self.name, created["id"])
        self.push_etag(context, created.get("etag"))
        return str(created["id"])

    def _resolve(self, datasets: Sequence[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Names become ids through the eligible-datasets list; an unknown name lists close matches."""
        import difflib

        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.utils.ids import DATASET_ID

        entries = [_as_entry(d) for d in datasets]
        if all(DATASET_ID.match(e["dataSetId"]) or e.get("name") for e in entries):
            return entries
        eligible = {d["name"]: d["id"] for d in self.hook.iter_eligible_datasets()}
        resolved = []
        for index, entry in enumerate(entries):
            value = entry["dataSetId"]
            if DATASET_ID.match(value) or entry.get("name"):
                resolved.append(entry)
            elif value in eligible:
                resolved.append({"dataSetId": eligible[value], "name": value})
            else:
                close = difflib.get_close_matches(value, list(eligible), n=3, cutoff=0.5)
                hint = (
                    f"did you mean {', '.join(map(repr, close))}?"
                    if close
                    else "no eligible dataset has that name"
                )
                raise AEPValidationError(
                    f"datasets[{index}]", value, f"a dataset id or the name of an eligible dataset: {hint}"
                )
        return resolved


def _as_entry(dataset: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(dataset, Mapping):
        entry = {"dataSetId": str(dataset.get("dataSetId") or dataset.get("id") or "")}
        if dataset.get("name"):
            entry["name"] = str(dataset["name"])
        return entry
    return {"dataSetId": str(dataset)}


class AEPCreateTargetConnectionOperator(AEPCreateOperator):
    """Create a target connection: where files land and in which format (``POST /targetConnections``).

    Returns the target connection's id. Takes the parameters of :class:`.AEPCreateOperator` too.

    :param destination: where the data goes: a catalog key or one of its aliases (case and
        surrounding spaces ignored), or a raw connection spec id. Dataset exports: ``amazon_s3``
        (or ``s3``), ``azure_blob``, ``adls_gen2`` (or ``adls``), ``data_landing_zone`` (or
        ``dlz``), ``google_cloud_storage`` (or ``gcs``), ``sftp``. Audiences:
        ``adobe_campaign`` (or ``campaign``), ``amazon_s3_audiences`` (or ``s3_audiences``),
        ``azure_blob_audiences``, ``oracle_eloqua`` (or ``eloqua``), ``oracle_responsys`` (or
        ``responsys``), ``salesforce_marketing_cloud`` (or ``sfmc``), ``sftp_audiences``. A
        literal value is checked at DAG parse; an unknown one is refused with a "did you mean".
    :param name: the target connection's name (what ``if_exists`` matches on; a same-named one
        is compared on its location, format and description, which ``"update"`` patches).
    :param base_connection_id: the base connection (``create_base.output``).
    :param location: the destination's location keys, e.g. ``{"bucketName": ..., "path": ...}``.
    :param dataset_file_type: ``JSON`` (NDJSON, always gzip-compressed) or ``PARQUET``.
    :param compression: ``GZIP`` or ``NONE`` (Parquet only).
    :param description: shown in the AEP UI.
    :param extra_params: more target params, sent as they are (e.g. ``mode`` for email-marketing
        destinations). Not ``params``: that name is Airflow's, for DAG params.
    :param export: ``"audiences"`` for audiences to an enhanced cloud-storage destination
        (``amazon_s3``, ``azure_blob``, ``adls_gen2``, ``data_landing_zone``,
        ``google_cloud_storage``, ``sftp``), which then take ``file_type``, ``compression``,
        ``csv_options`` and ``include_file_manifest``; default: what the destination does
        (datasets for those six, audiences for the others).
    :param file_type: audiences: ``CSV`` (default), ``JSON`` or ``PARQUET``.
    :param csv_options: audiences in CSV: ``delimiter``, ``quote``, ``escape``, ``nullValue``,
        ``emptyValue``, with the values the destination's spec allows.
    :param include_file_manifest: audiences: True to have AEP write a manifest file per run.
    """

    entity_name = "target connection"
    template_fields: Sequence[str] = (
        "destination",
        "name",
        "description",
        "base_connection_id",
        "location",
        "dataset_file_type",
        "compression",
        "extra_params",
        "export",
        "file_type",
        "csv_options",
        "sandbox_name",
        "aep_conn_id",
    )
    template_fields_renderers = {"location": "json", "extra_params": "json", "csv_options": "json"}
    ui_color = "#fbe3d3"

    def __init__(
        self,
        *,
        destination: str,
        name: str,
        base_connection_id: str,
        location: Mapping[str, Any],
        dataset_file_type: str | None = "JSON",
        compression: str | None = "GZIP",
        description: str | None = None,
        extra_params: Mapping[str, Any] | None = None,
        export: str | None = None,
        file_type: str | None = None,
        csv_options: Mapping[str, Any] | None = None,
        include_file_manifest: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.name = name
        self.base_connection_id = base_connection_id
        self.location = location
        self.dataset_file_type = dataset_file_type
        self.compression = compression
        self.description = description
        self.extra_params = extra_params
        self.export = export
        self.file_type = file_type
        self.csv_options = csv_options
        self.include_file_manifest = include_file_manifest
        check_destination_when_literal(destination)
        check_id_when_literal("base_connection_id", base_connection_id)
        check_when_literal(
            {
                "destination": destination,
                "name": name,
                "location": location,
                "dataset_file_type": dataset_file_type,
                "compression": compression,
                "extra_params": extra_params,
                "export": export,
                "file_type": file_type,
                "csv_options": csv_options,
            },
            self._check_arguments,
        )

    def _check_arguments(self) -> None:
        from airflow_provider_aep.payloads.connections import check_target_params, require_text

        spec_id, target = self._target_params()
        require_text("name", self.name)
        check_target_params(spec_id, target)

    def _target_params(self) -> tuple[str, dict[str, Any]]:
        """The connection spec id and the ``params`` the location and the format make."""
        from airflow_provider_aep.catalog import check_export, resolve_destination
        from airflow_provider_aep.exceptions import AEPValidationError

        spec_id, destination = resolve_destination(self.destination)
        export = check_export(self.export)
        if destination is not None and export is not None:
            destination.flow_spec_for(export)  # refuses an export the destination does not take
        audiences_to_enhanced = (
            export == "audiences" and destination is not None and destination.workflow == "datasets"
        )
        given: dict[str, Any] = {
            "file_type": self.file_type,
            "csv_options": self.csv_options,
            "include_file_manifest": self.include_file_manifest,
        }
        for field, value in given.items():
            if value not in (None, "", {}) and not audiences_to_enhanced:
                raise AEPValidationError(
                    field, value, "only with export='audiences' to an enhanced cloud-storage destination"
                )
        if not isinstance(self.location, Mapping):
            raise AEPValidationError(
                "location", self.location, "a mapping of location keys, e.g. {'bucketName': ..., 'path': ...}"
            )
        target: dict[str, Any] = dict(self.location)
        if destination is not None:
            unknown = sorted(set(target) - set(destination.target_schema.get("properties", {})))
            if unknown:
                raise AEPValidationError(
                    "location", unknown, f"{destination.name} takes " + ", ".join(destination.location_keys)
                )
        if audiences_to_enhanced and destination is not None:
            from airflow_provider_aep.payloads.audiences import audience_target_params

            target = audience_target_params(
                destination,
                target,
                file_type=self.file_type or "CSV",
                compression=self.compression or "NONE",
                csv_options=self.csv_options or None,
                include_file_manifest=self.include_file_manifest,
            )
            target.update(self.extra_params or {})
            return spec_id, target
        target.update(self.extra_params or {})
        if destination is None or destination.workflow == "datasets":
            target["datasetFileType"] = self.dataset_file_type
            target["compression"] = self.compression
        return spec_id, target

    def _body(self, base_connection_id: str) -> dict[str, Any]:
        from airflow_provider_aep.payloads.connections import build_target_connection

        spec_id, target = self._target_params()
        return build_target_connection(
            name=self.name,
            base_connection_id=base_connection_id,
            connection_spec_id=spec_id,
            params=target,
            description=self.description,
        )

    @says_what_exists
    def execute(self, context: Context) -> str:
        from airflow_provider_aep.catalog import MIGRATION_GUIDE_URL, find_destination
        from airflow_provider_aep.utils.ids import check_id

        body = self._body(check_id("base_connection_id", self.base_connection_id))
        destination = find_destination(str(self.destination))
        if destination is not None and destination.replaced_by:
            self.log.warning(
                "%s is a legacy audience destination; Adobe moves its users to the enhanced %r "
                "destination (export='audiences'): %s",
                destination.key,
                destination.replaced_by,
                MIGRATION_GUIDE_URL,
            )
        created = self.create(context, "targetConnections", body)
        self.log_created(created, "Created target connection %r: %s", self.name, created["id"])
        self.push_etag(context, created.get("etag"))
        return str(created["id"])
