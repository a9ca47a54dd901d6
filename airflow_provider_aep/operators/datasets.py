"""AEPListDatasetsOperator: the datasets eligible for export, as ``[{id, name}]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.operators.base import AEPBaseOperator
from airflow_provider_aep.tasks.mixins import says_what_exists

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class AEPListDatasetsOperator(AEPBaseOperator):
    """List eligible datasets (all pages), optionally only those with the given names or ids.

    A name or id that matches nothing is an error that lists the closest names, so a typo
    fails here rather than as an empty export later. Returns ``[{"id", "name"}]``, which
    ``AEPCreateSourceConnectionOperator(datasets=...)`` takes as it is. Takes the parameters of
    :class:`.AEPBaseOperator` too.

    :param names: keep only the datasets with these names.
    :param ids: keep only the datasets with these ids (with ``names``: either matches).
    """

    template_fields: Sequence[str] = ("names", "ids", "sandbox_name", "aep_conn_id")
    template_fields_renderers = {"names": "json", "ids": "json"}
    ui_color = "#fde9dc"

    def __init__(
        self, *, names: Sequence[str] | None = None, ids: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        from airflow_provider_aep.exceptions import AEPValidationError

        super().__init__(**kwargs)
        for field, value in (("names", names), ("ids", ids)):
            if isinstance(value, str) and "{{" not in value:
                raise AEPValidationError(field, value, "a list of strings, not one string")
        self.names = names
        self.ids = ids

    @says_what_exists
    def execute(self, context: Context) -> list[dict[str, str]]:
        import difflib

        from airflow_provider_aep.exceptions import AEPValidationError

        datasets = [
            {"id": str(d["id"]), "name": str(d.get("name", ""))} for d in self.hook.iter_eligible_datasets()
        ]
        wanted_names, wanted_ids = list(self.names or []), list(self.ids or [])
        if wanted_names or wanted_ids:
            by_name = {d["name"]: d for d in datasets}
            by_id = {d["id"]: d for d in datasets}
            for field, wanted, index in (("names", wanted_names, by_name), ("ids", wanted_ids, by_id)):
                missing = [w for w in wanted if w not in index]
                if missing:
                    close = {m: difflib.get_close_matches(m, list(index), n=3, cutoff=0.5) for m in missing}
                    hints = "; ".join(
                        f"{m!r}: " + (", ".join(map(repr, c)) or "no close match") for m, c in close.items()
                    )
                    raise AEPValidationError(field, missing, f"eligible datasets only (closest: {hints})")
            datasets = [d for d in datasets if d["name"] in wanted_names or d["id"] in wanted_ids]
        self.log.info("%d eligible dataset(s): %s", len(datasets), ", ".join(d["name"] for d in datasets))
        return datasets
