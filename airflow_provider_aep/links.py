"""The "AEP dataflow" extra link: the dataflow's page in the AEP UI, or wherever the connection's
``ui_url`` points."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey


class AEPDataflowLink(BaseOperatorLink):
    """Airflow asks for it when the task finishes; the operator has set ``aep_dataflow_url`` by then."""

    name = "AEP dataflow"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The dataflow's page URL the task set.

        :param operator: the task the link belongs to.
        :param ti_key: which try of the task (the URL is the same for each).
        :return: the URL, or ``""`` before the task knew the flow (Airflow shows no link then).
        """
        return str(getattr(operator, "aep_dataflow_url", "") or "")
