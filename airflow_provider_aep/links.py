"""The "AEP dataflow" extra link: the dataflow's page in the AEP UI, or wherever the connection's
``ui_url`` points."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class AEPDataflowLink(BaseOperatorLink):
    """Airflow asks for it when the task finishes; the operator has set ``aep_dataflow_url`` by then."""

    name = "AEP dataflow"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return str(getattr(operator, "aep_dataflow_url", "") or "")
