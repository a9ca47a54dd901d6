"""The columns of an audience export to an enhanced cloud-storage destination: a Data Prep mapping set.

Mixed into :class:`~airflow_provider_aep.hooks.aep.AEPHook`. The calls are those of Adobe's
audience-activation tutorial ("Set up attribute and identity mapping"), in its order: the
profile union schema and the identity namespaces (read), the input schema (created from the
union schema), the destination's partner schema (read from its connection spec), the output
schema (created from it), then the mapping set. Every column's source is checked against the
union schema and the namespaces before anything is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import AEPError, AEPValidationError
from airflow_provider_aep.hooks.platform_calls import PlatformCalls
from airflow_provider_aep.payloads.audiences import build_mapping_set, unknown_columns
from airflow_provider_aep.utils.ids import path_segment

JsonDict = dict[str, Any]
#: The profile union schema, with every field group and relationship (the tutorial's query).
UNION_SCHEMA_PATH = "/config/entityTypes/_xdm.context.profile"
UNION_SCHEMA_QUERY = (("property", "fullSchema==true"), ("property", "includeRelationshipDescriptors==true"))


class AudienceMappingMixin(PlatformCalls):
    """Read and create the mapping set that names an audience export's columns."""

    if TYPE_CHECKING:  # what the hook provides

        def get_connection_spec(self, spec_id: str) -> JsonDict: ...

    def profile_union_schema(self) -> JsonDict:
        """The profile union schema (XDM JSON schema) of the sandbox."""
        _, body = self.request("GET", UNION_SCHEMA_PATH, params=UNION_SCHEMA_QUERY, service="segmentation")
        return dict(body or {})

    def identity_namespaces(self) -> list[str]:
        """The identity namespace codes of the sandbox (``Email``, ``ECID``, ``Phone_E.164``, ...)."""
        _, body = self.request("GET", "/identities", service="identity")
        return [str(n.get("code")) for n in body or [] if isinstance(n, Mapping) and n.get("code")]

    def get_mapping_set(self, mapping_set_id: str) -> JsonDict:
        _, body = self.request(
            "GET", f"/mappingSets/{path_segment('mappingId', mapping_set_id)}", service="conversion"
        )
        return dict(body or {})

    def create_audience_mapping(
        self, connection_spec_id: str, columns: Mapping[str, str], *, name: str
    ) -> JsonDict:
        """Create the input and output schemas and the mapping set for these columns.

        :param connection_spec_id: the destination's connection spec (its partner schema is
            the output schema).
        :param columns: column header -> attribute path or ``identityMap.<namespace>``, checked
            with :func:`~airflow_provider_aep.payloads.audiences.check_columns`.
        :param name: the schemas' name.
        :return: the mapping set as AEP answers it (``id``, ``version``).
        :raises AEPValidationError: before anything is created, for a column whose source the
            sandbox's union schema and identity namespaces do not have.
        """
        union = self.profile_union_schema()
        unknown = unknown_columns(columns, union, self.identity_namespaces())
        if unknown:
            header, source = next(iter(unknown.items()))
            raise AEPValidationError(
                f"columns[{header!r}]",
                source,
                "an attribute of the sandbox's profile union schema, or identityMap.<namespace> "
                "of one of its identity namespaces",
            )
        partner = (
            ((self.get_connection_spec(connection_spec_id).get("targetSpec") or {}).get("attributes") or {})
            .get("partnerSchema", {})
            .get("jsonSchema")
        )
        if not isinstance(partner, Mapping):
            raise AEPError(
                f"Connection spec {connection_spec_id} names no partner schema to map audiences to"
            )
        input_schema = self._create_schema(name, union)
        output_schema = self._create_schema(name, partner)
        _, mapping_set = self.request(
            "POST",
            "/mappingSets",
            json=build_mapping_set(str(input_schema["id"]), str(output_schema["id"]), columns),
            service="conversion",
        )
        return dict(mapping_set or {})

    def _create_schema(self, name: str, json_schema: Mapping[str, Any]) -> JsonDict:
        # Nothing points at a schema or a mapping set until the flow does: a create retried after
        # a lost answer leaves an unused one behind, never a wrong export.
        _, body = self.request(
            "POST", "/schemas", json={"name": name, "jsonSchema": dict(json_schema)}, service="conversion"
        )
        return dict(body or {})
