"""Operators that change connections in place: rotated credentials, a new location, other datasets.

Each reads the entity as it is now, computes the JSON Patch it still lacks, and sends it with
``If-Match`` through :meth:`~airflow_provider_aep.hooks.aep.AEPHook.update_entity` (a 412 or a
lost answer re-reads and recomputes). Nothing is sent when nothing differs, so running a task
twice changes nothing twice. Nothing is recreated: the dataflows keep their ids and their next
run uses the new values. Logs and errors name the parameters changed, never their values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.operators.base import AEPConnectionUpdateOperator
from airflow_provider_aep.tasks.mixins import (
    MasksRenderedAuthParamsMixin,
    check_destination_when_literal,
    check_when_literal,
    says_what_exists,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class AEPUpdateBaseConnectionOperator(MasksRenderedAuthParamsMixin, AEPConnectionUpdateOperator):
    """Rotate the credentials of a base connection in place (``PATCH /connections/{id}``).

    The keys a destination uses are rotated every few months: this puts the new ones on the
    base connection that the exports already use, so nothing is recreated and the next run uses
    them. Parameters AEP shows are compared and only those that differ are sent; secrets, which
    AEP hides, are always sent. Returns the base connection's id and pushes its new etag.
    Takes the parameters of :class:`~airflow_provider_aep.operators.base.AEPConnectionUpdateOperator` too; pushes ``etag`` and ``updated_at``.

    :param base_connection_id: the base connection to update.
    :param destination: a catalog key (``amazon_s3``, ``sftp``, ...) or a raw connection spec id:
        the new params are checked against its auth spec before any request.
    :param auth_params: the new credentials, by AEP's names (``accessKeyId``, ``secretKey``, ...).
    :param credentials_conn_id: an Airflow connection to take them from instead (``aws``,
        ``sftp``, ``wasb`` ...), as :class:`.AEPCreateBaseConnectionOperator` does.
    :param auth_spec_name: the auth spec, when the destination has several and the params
        do not tell; a different one than the connection's replaces ``auth`` whole, in one
        operation with the new spec name and only the new params (an SFTP connection moves
        from a password to an SSH key in place; the old password is not kept).
    """

    template_fields: Sequence[str] = (
        "base_connection_id",
        "destination",
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
        base_connection_id: str,
        destination: str,
        auth_params: Mapping[str, Any] | None = None,
        credentials_conn_id: str | None = None,
        auth_spec_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.base_connection_id = base_connection_id
        self.destination = destination
        self.auth_params = auth_params
        self.credentials_conn_id = credentials_conn_id
        self.auth_spec_name = auth_spec_name
        # A literal destination is checked on its own, whatever else is templated.
        check_destination_when_literal(destination)
        if credentials_conn_id is None:
            check_when_literal(
                {
                    "base_connection_id": base_connection_id,
                    "destination": destination,
                    "auth_params": auth_params,
                    "auth_spec_name": auth_spec_name,
                },
                lambda: self._checked(dict(auth_params or {}), auth_spec_name),
            )

    def _checked(self, params: dict[str, Any], auth_spec_name: str | None) -> str | None:
        """The auth spec the new params fit, or AEPValidationError naming the field."""
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.payloads.connections import check_base_connection
        from airflow_provider_aep.utils.ids import check_id

        check_id("base_connection_id", self.base_connection_id)
        if not params:
            raise AEPValidationError(
                "auth_params", params, "the new credentials (or credentials_conn_id to take them from)"
            )
        return check_base_connection(
            connection_spec_id=self._spec_id(),
            auth_spec_name=auth_spec_name or None,
            auth_params=params,
        )

    def _spec_id(self) -> str:
        from airflow_provider_aep.catalog import resolve_destination

        return resolve_destination(self.destination)[0]

    @says_what_exists
    def execute(self, context: Context) -> str:
        from airflow_provider_aep.exceptions import AEPError
        from airflow_provider_aep.payloads.patch import changed_params, paths_of
        from airflow_provider_aep.utils.credentials import auth_params_for

        spec_name, params = auth_params_for(
            self.destination, self.auth_params, self.credentials_conn_id, self.auth_spec_name or None
        )
        spec_name = self._checked(params, spec_name)
        spec_id = self._spec_id()
        connection_id = self.base_connection_id

        def still_needed(connection: Mapping[str, Any]) -> list[dict[str, Any]]:
            has_spec = (connection.get("connectionSpec") or {}).get("id")
            if has_spec and has_spec != spec_id:
                raise AEPError(
                    f"Base connection {connection_id} has connection spec {has_spec}, not the one of "
                    f"destination {self.destination!r} ({spec_id}): nothing was changed"
                )
            auth = connection.get("auth") or {}
            if spec_name and auth.get("specName") != spec_name:
                # Another auth spec: the whole new auth in one operation, none of the old params.
                op = "replace" if "auth" in connection else "add"
                return [{"op": op, "path": "/auth", "value": {"specName": spec_name, "params": params}}]
            return changed_params(auth.get("params") or {}, params, "auth", "params")

        update = self.hook.update_entity("connections", connection_id, still_needed)
        before = (update.get("entity") or {}).get("auth") or {}
        if any(op["path"] == "/auth" for op in update["operations"]):
            self.log.info(
                "Base connection %s: auth spec %r replaced by %r with new %s",
                connection_id,
                before.get("specName"),
                spec_name,
                ", ".join(sorted(params)),
            )
        elif update["operations"]:
            self.log.info("Base connection %s: new %s", connection_id, paths_of(update["operations"]))
        else:
            self.log.info("Base connection %s already has these credentials: no PATCH sent", connection_id)
        self.push_updated(context, update.get("etag"))
        return connection_id


class AEPUpdateTargetConnectionOperator(AEPConnectionUpdateOperator):
    """Move an export's files: change a target connection's location or format in place.

    A new bucket, path, container or remote path (``PATCH /targetConnections/{id}``): the params
    given are laid over the ones the connection has, the result is checked against the
    connection's spec, and only what differs is sent. Returns the target connection's id and
    pushes its new etag. Takes the parameters of :class:`~airflow_provider_aep.operators.base.AEPConnectionUpdateOperator` too.

    :param target_connection_id: the target connection to update.
    :param location: the location keys to change, e.g. ``{"path": "exports/v2"}``.
    :param dataset_file_type: ``JSON`` or ``PARQUET``; None keeps the current one.
    :param compression: ``GZIP`` or ``NONE``; None keeps the current one.
    :param extra_params: other target params to change, by AEP's names.
    """

    template_fields: Sequence[str] = (
        "target_connection_id",
        "location",
        "dataset_file_type",
        "compression",
        "extra_params",
        "sandbox_name",
        "aep_conn_id",
    )
    template_fields_renderers = {"location": "json", "extra_params": "json"}
    ui_color = "#fbe3d3"

    def __init__(
        self,
        *,
        target_connection_id: str,
        location: Mapping[str, Any] | None = None,
        dataset_file_type: str | None = None,
        compression: str | None = None,
        extra_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.target_connection_id = target_connection_id
        self.location = location
        self.dataset_file_type = dataset_file_type
        self.compression = compression
        self.extra_params = extra_params
        check_when_literal(
            {
                "target_connection_id": target_connection_id,
                "location": location,
                "extra_params": extra_params,
                "dataset_file_type": dataset_file_type,
                "compression": compression,
            },
            self._wanted,
        )

    def _wanted(self) -> dict[str, Any]:
        """The params to lay over the connection's, or AEPValidationError naming the field."""
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.utils.ids import check_id

        check_id("target_connection_id", self.target_connection_id)
        wanted: dict[str, Any] = {}
        for field, value in (("location", self.location), ("extra_params", self.extra_params)):
            if value is not None and not isinstance(value, Mapping):
                raise AEPValidationError(
                    field, value, "a mapping of target params, e.g. {'path': 'exports/v2'}"
                )
            wanted.update(value or {})
        if self.dataset_file_type is not None:
            wanted["datasetFileType"] = self.dataset_file_type
        if self.compression is not None:
            wanted["compression"] = self.compression
        if not wanted:
            raise AEPValidationError(
                "location", self.location, "something to change: location, a format or extra_params"
            )
        return wanted

    @says_what_exists
    def execute(self, context: Context) -> str:
        from airflow_provider_aep.payloads.connections import check_target_params
        from airflow_provider_aep.payloads.patch import changed_params, paths_of

        wanted = self._wanted()
        connection_id = self.target_connection_id

        def still_needed(connection: Mapping[str, Any]) -> list[dict[str, Any]]:
            current = dict(connection.get("params") or {})
            spec_id = str((connection.get("connectionSpec") or {}).get("id") or "")
            check_target_params(spec_id, {**current, **wanted})
            return changed_params(current, wanted, "params")

        update = self.hook.update_entity("targetConnections", connection_id, still_needed)
        if update["operations"]:
            self.log.info("Target connection %s: new %s", connection_id, paths_of(update["operations"]))
        else:
            self.log.info("Target connection %s already has these params: no PATCH sent", connection_id)
        self.push_updated(context, update.get("etag"))
        return connection_id


class AEPUpdateSourceConnectionOperator(AEPConnectionUpdateOperator):
    """Add datasets to an export or take them out: change a source connection's datasets in place.

    Reads the Data Lake source connection, computes its new dataset list and replaces
    ``/params/datasets`` with it (``PATCH /sourceConnections/{id}`` with ``If-Match``; a 412
    recomputes from the fresh list). Returns the dataset ids the export has now.
    Takes the parameters of :class:`~airflow_provider_aep.operators.base.AEPConnectionUpdateOperator` too; pushes ``etag`` and ``updated_at``.

    :param source_connection_id: the Data Lake source connection of the export.
    :param add_datasets: dataset ids (24 hex digits) to export too.
    :param remove_datasets: dataset ids to export no longer; an export keeps at least one.
    """

    template_fields: Sequence[str] = (
        "source_connection_id",
        "add_datasets",
        "remove_datasets",
        "sandbox_name",
        "aep_conn_id",
    )
    template_fields_renderers = {"add_datasets": "json", "remove_datasets": "json"}
    ui_color = "#fbe3d3"

    def __init__(
        self,
        *,
        source_connection_id: str,
        add_datasets: Sequence[str] = (),
        remove_datasets: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_connection_id = source_connection_id
        self.add_datasets = add_datasets
        self.remove_datasets = remove_datasets
        check_when_literal(
            {
                "source_connection_id": source_connection_id,
                "add_datasets": add_datasets,
                "remove_datasets": remove_datasets,
            },
            self._changes,
        )

    def _changes(self) -> tuple[list[str], list[str]]:
        """The dataset ids to add and to remove, or AEPValidationError naming the field."""
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.utils.ids import DATASET_ID, check_id

        check_id("source_connection_id", self.source_connection_id)
        lists = []
        for field, value in (("add_datasets", self.add_datasets), ("remove_datasets", self.remove_datasets)):
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise AEPValidationError(field, value, "a list of dataset ids, not one string")
            bad = [v for v in value if not isinstance(v, str) or not DATASET_ID.fullmatch(v)]
            if bad:
                raise AEPValidationError(field, bad, "dataset ids (24 hexadecimal digits)")
            lists.append(list(dict.fromkeys(value)))
        add, remove = lists
        if not add and not remove:
            raise AEPValidationError("add_datasets", add, "a dataset to add or one to remove")
        both = sorted(set(add) & set(remove))
        if both:
            raise AEPValidationError("remove_datasets", both, "datasets that are not also in add_datasets")
        return add, remove

    @says_what_exists
    def execute(self, context: Context) -> list[str]:
        from airflow_provider_aep.exceptions import AEPError

        add, remove = self._changes()
        connection_id = self.source_connection_id
        kept: list[str] = []

        def still_needed(connection: Mapping[str, Any]) -> list[dict[str, Any]]:
            current = list((connection.get("params") or {}).get("datasets") or [])
            entries = [d for d in current if not isinstance(d, Mapping) or d.get("dataSetId") not in remove]
            have = {d.get("dataSetId") for d in entries}
            entries += [{"dataSetId": d} for d in add if d not in have]
            if not entries:
                raise AEPError(
                    f"Source connection {connection_id}: removing {', '.join(remove)} would leave no "
                    "dataset to export; delete the dataflow instead"
                )
            kept[:] = [str(d["dataSetId"]) for d in entries]
            if entries == current:
                return []
            return [{"op": "replace", "path": "/params/datasets", "value": entries}]

        update = self.hook.update_entity("sourceConnections", connection_id, still_needed)
        if update["operations"]:
            self.log.info("Source connection %s exports %s now", connection_id, ", ".join(kept))
        else:
            self.log.info(
                "Source connection %s already exports %s: no PATCH sent", connection_id, ", ".join(kept)
            )
        self.push_updated(context, update.get("etag"))
        return kept
