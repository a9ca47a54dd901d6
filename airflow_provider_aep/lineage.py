"""OpenLineage for dataflows: which AEP datasets or audiences a flow exports, and where the files land.

The dataflow operators and the run sensor call these helpers from their
``get_openlineage_facets_on_*`` methods. OpenLineage itself (``apache-airflow-providers-openlineage``,
the ``openlineage`` extra) is imported only inside the functions that build facets, so importing
the operators (which Airflow does every few seconds, to parse DAG files) costs what it did
without lineage; and those methods run only when the OpenLineage provider is installed and set up.

==============================  ==========================================  ==================================
Dataset                         Namespace                                   Name
==============================  ==========================================  ==================================
AEP dataset (input)             ``aep://<org id>/<sandbox>``                ``<dataset id>``
AEP audience (input)            ``aep://<org id>/<sandbox>``                ``segment:<segment id>``
Destination folder (output)     ``<scheme>://<authority>`` (see below)      the folder, e.g. ``datasets/daily``
==============================  ==========================================  ==================================

The output is the flow's :class:`~airflow_provider_aep.assets.ExportLocation` (the URI the
sensor's asset event names): ``s3://<bucket>``, ``gs://<bucket>``,
``wasbs://<container>@<account>.blob.core.windows.net``,
``abfss://<filesystem>@<account>.dfs.core.windows.net``, ``sftp://<host>[:<port>]`` or
``aep-dlz://<org id>`` as namespace, the folder below it as name (``/`` for the root).

Facets: each input has ``aep_dataset`` (``type``: ``dataset`` or ``segment``, and its ``name``
in AEP) and, once a run is known, the standard ``inputStatistics`` (records read); the output
has the standard ``outputStatistics`` (``rowCount``, ``size`` in bytes, ``fileCount``). The run
has ``aep_dataflowRun`` (flow id, run id, status, record, byte and file counts, attempts,
sandbox, destination) and the standard ``externalQuery`` (the AEP run id). Only ids, names,
counts and locations: never a credential.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.assets import ExportLocation

if TYPE_CHECKING:
    import airflow.providers.openlineage.extractors

    from airflow_provider_aep.hooks.aep import AEPHook

log = logging.getLogger(__name__)

#: The scheme of the namespace of AEP's own datasets and audiences.
AEP_SCHEME = "aep"
#: An audience's OpenLineage name is this prefix and its segment id.
SEGMENT_PREFIX = "segment:"
#: The keys of this provider's own facets (OpenLineage asks custom facets for a prefix of their own).
DATASET_FACET = "aep_dataset"
RUN_FACET = "aep_dataflowRun"


@dataclass(frozen=True)
class ExportedEntity:
    """Something a dataflow exports: an AEP dataset or an audience (segment).

    :param kind: ``dataset`` or ``segment``.
    :param id: the dataset id or the segment id.
    :param name: its name in AEP, where the flow or its source connection shows it.
    """

    kind: str
    id: str
    name: str | None = None

    @property
    def lineage_name(self) -> str:
        """The OpenLineage dataset name: the dataset id, or ``segment:<segment id>``."""
        return f"{SEGMENT_PREFIX}{self.id}" if self.kind == "segment" else self.id


def aep_namespace(org_id: str, sandbox: str) -> str:
    """The OpenLineage namespace of a sandbox's datasets and audiences.

    :param org_id: the IMS org, e.g. ``0123ABCD@AdobeOrg``.
    :param sandbox: the sandbox, e.g. ``prod``.
    :return: ``aep://<org id>/<sandbox>``.
    """
    return f"{AEP_SCHEME}://{org_id}/{sandbox}"


def _transform_params(flow: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for transform in flow.get("transformations") or []:
        params = (transform or {}).get("params") if isinstance(transform, Mapping) else None
        if isinstance(params, Mapping) and "segmentSelectors" in params:
            return params
    return None


def is_audience_flow(flow: Mapping[str, Any]) -> bool:
    """An audience (segment) flow carries the GeneralTransform with ``segmentSelectors``.

    :param flow: the dataflow as AEP shows it.
    :return: True for an audience flow, False for a dataset export.
    """
    return _transform_params(flow) is not None


def flow_segments(flow: Mapping[str, Any]) -> list[ExportedEntity]:
    """The audiences an audience flow exports: its ``segmentSelectors``, each once, in order.

    :param flow: the dataflow as AEP shows it.
    :return: one entity per segment id (empty for a flow not activated yet, or a dataset flow).
    """
    params = _transform_params(flow) or {}
    found: dict[str, ExportedEntity] = {}
    for selector in (params.get("segmentSelectors") or {}).get("selectors") or []:
        value = selector.get("value") if isinstance(selector, Mapping) else None
        if not isinstance(value, Mapping):
            continue
        segment_id, name = value.get("id"), value.get("name")
        if isinstance(segment_id, str) and segment_id and segment_id not in found:
            found[segment_id] = ExportedEntity("segment", segment_id, str(name) if name else None)
    return list(found.values())


def source_datasets(source_connection: Mapping[str, Any]) -> list[ExportedEntity]:
    """The datasets a Data Lake source connection lists (``params.datasets[].dataSetId``, ``name``).

    :param source_connection: the source connection as AEP shows it.
    :return: one entity per dataset id, with the name where the connection has one.
    """
    found: dict[str, ExportedEntity] = {}
    for entry in (source_connection.get("params") or {}).get("datasets") or []:
        dataset_id = entry.get("dataSetId") if isinstance(entry, Mapping) else None
        if isinstance(dataset_id, str) and dataset_id and dataset_id not in found:
            name = entry.get("name")
            found[dataset_id] = ExportedEntity("dataset", dataset_id, str(name) if name else None)
    return list(found.values())


def _with_names(hook: AEPHook, datasets: list[ExportedEntity]) -> list[ExportedEntity]:
    """Names for datasets whose source connection has none: one listing, stopped once all are found.

    A source connection made from ``AEPListDatasetsOperator`` already names every dataset, so
    this usually costs no request at all.
    """
    missing = {d.id for d in datasets if not d.name}
    if not missing:
        return datasets
    names: dict[str, str] = {}
    for dataset in hook.iter_eligible_datasets():
        if dataset.get("id") in missing and dataset.get("name"):
            names[str(dataset["id"])] = str(dataset["name"])
            if len(names) == len(missing):
                break
    return [d if d.name else ExportedEntity(d.kind, d.id, names.get(d.id)) for d in datasets]


def exported_entities(hook: AEPHook, flow: Mapping[str, Any]) -> list[ExportedEntity]:
    """What a flow exports: its audiences, or the datasets of its source connection.

    :param hook: reads the source connection (and, for unnamed datasets, the dataset listing).
    :param flow: the dataflow as AEP shows it.
    :return: the audiences or datasets, with their names where AEP gives them.
    """
    if is_audience_flow(flow):
        return flow_segments(flow)
    datasets: list[ExportedEntity] = []
    for source_id in flow.get("sourceConnectionIds") or []:
        source = hook.get_entity("sourceConnections", str(source_id)) or {}
        datasets += [d for d in source_datasets(source) if d.id not in {x.id for x in datasets}]
    return _with_names(hook, datasets)


@functools.cache
def facet_classes() -> tuple[type, type]:
    """This provider's two facets, defined on first use so OpenLineage is imported only then.

    :return: ``(AEPDataflowRunFacet, AEPDatasetFacet)``.
    """
    from airflow.providers.common.compat.openlineage.facet import DatasetFacet, RunFacet
    from attrs import define

    @define
    class AEPDataflowRunFacet(RunFacet):
        """An AEP dataflow run: its ids and what it exported (the sensor's run summary)."""

        flowId: str
        sandbox: str | None = None
        destination: str | None = None
        runId: str | None = None
        status: str | None = None
        startedAt: str | None = None
        completedAt: str | None = None
        inputRecords: int | None = None
        outputRecords: int | None = None
        skippedRecords: int | None = None
        failedRecords: int | None = None
        outputBytes: int | None = None
        filesOut: int | None = None
        attempts: int | None = None

    @define
    class AEPDatasetFacet(DatasetFacet):
        """An AEP dataset or audience: which of the two, and its name in AEP (the id is the name)."""

        type: str
        name: str | None = None

    return AEPDataflowRunFacet, AEPDatasetFacet


def _input_statistics(rows: Any) -> Any:
    """The standard inputStatistics facet, where the installed client has it (openlineage-python 1.27+)."""
    try:
        from openlineage.client.generated.input_statistics_input_dataset import (
            InputStatisticsInputDatasetFacet,
        )
    except ImportError:  # pragma: no cover - an older client
        return None
    return InputStatisticsInputDatasetFacet(rowCount=rows)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def build_lineage(
    *,
    namespace: str,
    entities: Sequence[ExportedEntity],
    location: ExportLocation | None,
    flow_id: str | None,
    summary: Mapping[str, Any] | None = None,
) -> airflow.providers.openlineage.extractors.OperatorLineage:
    """The OpenLineage of a dataflow (and of one of its runs), from what is already known: no I/O.

    :param namespace: the inputs' namespace, from :func:`aep_namespace`.
    :param entities: the datasets or audiences the flow exports.
    :param location: where its files land; None leaves the output out.
    :param flow_id: the dataflow; None leaves the run facets out.
    :param summary: a run's summary (the sensor's XCom), for the run facets and statistics.
    :return: inputs, outputs and run facets.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        ExternalQueryRunFacet,
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    run_facet_class, dataset_facet_class = facet_classes()
    summary = summary or {}
    entities = list(entities)
    # The run names every source it read: one the flow no longer shows was still exported.
    kind = entities[0].kind if entities else ("segment" if summary.get("segments") else "dataset")
    counts = {str(s.get("id")): s for s in summary.get("sources") or [] if s.get("id")}
    entities += [ExportedEntity(kind, i) for i in counts if i not in {e.id for e in entities}]

    inputs = []
    for entity in entities:
        input_facets: dict[str, Any] = {}
        rows = _int((counts.get(entity.id) or {}).get("input_records"))
        statistics = _input_statistics(rows) if rows is not None else None
        if statistics is not None:
            input_facets["inputStatistics"] = statistics
        inputs.append(
            InputDataset(
                namespace=namespace,
                name=entity.lineage_name,
                facets={DATASET_FACET: dataset_facet_class(type=entity.kind, name=entity.name)},
                inputFacets=input_facets,
            )
        )

    outputs = []
    if location is not None:
        output_facets: dict[str, Any] = {}
        if summary:
            output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
                rowCount=_int(summary.get("output_records")),
                size=_int(summary.get("output_bytes")),
                fileCount=_int(summary.get("files_out")),
            )
        outputs.append(
            OutputDataset(namespace=location.namespace, name=location.path or "/", outputFacets=output_facets)
        )

    run_facets: dict[str, Any] = {}
    if flow_id:
        run_id = summary.get("run_id")
        run_facets[RUN_FACET] = run_facet_class(
            flowId=str(flow_id),
            sandbox=location.sandbox if location else None,
            destination=location.destination if location else None,
            runId=str(run_id) if run_id else None,
            status=summary.get("status"),
            startedAt=summary.get("started_at"),
            completedAt=summary.get("completed_at"),
            inputRecords=_int(summary.get("input_records")),
            outputRecords=_int(summary.get("output_records")),
            skippedRecords=_int(summary.get("skipped_records")),
            failedRecords=_int(summary.get("failed_records")),
            outputBytes=_int(summary.get("output_bytes")),
            filesOut=_int(summary.get("files_out")),
            attempts=_int(summary.get("attempts")),
        )
        if run_id:
            run_facets["externalQuery"] = ExternalQueryRunFacet(externalQueryId=str(run_id), source=namespace)
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=run_facets)


def dataflow_lineage(
    hook: AEPHook,
    flow_id: str,
    *,
    summary: Mapping[str, Any] | None = None,
    location: ExportLocation | None = None,
    storage_account: str | None = None,
) -> airflow.providers.openlineage.extractors.OperatorLineage:
    """The OpenLineage of a dataflow, read through the hook: the flow, its source, its location.

    :param hook: the task's hook (its connection names the org and the sandbox).
    :param flow_id: the dataflow.
    :param summary: a run's summary, when the task watched one.
    :param location: where the files land, when the task already knows (else read).
    :param storage_account: the Azure storage account AEP hides, for a location read here.
    :return: inputs, outputs and run facets.
    """
    flow = hook.get_flow(flow_id)
    if location is None:
        location = hook.export_location(flow_id, storage_account or None)
    return build_lineage(
        namespace=aep_namespace(hook.settings.org_id, hook.sandbox_name),
        entities=exported_entities(hook, flow),
        location=location,
        flow_id=flow_id,
        summary=summary,
    )


def empty_lineage() -> airflow.providers.openlineage.extractors.OperatorLineage:
    """Nothing to say (yet): the OperatorLineage with no inputs, outputs or facets.

    :return: an empty OperatorLineage.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage()


def lineage_or_empty(
    build: Callable[[], airflow.providers.openlineage.extractors.OperatorLineage],
    *,
    task_id: str,
    logger: logging.Logger | Any = None,
) -> airflow.providers.openlineage.extractors.OperatorLineage:
    """Lineage is a courtesy: a failure to build it is logged, and never fails the task.

    :param build: builds the lineage (it may read AEP).
    :param task_id: names the task in the warning.
    :param logger: the task's logger (default: this module's).
    :return: what ``build`` returned, or an empty OperatorLineage when it raised.
    """
    try:
        return build()
    except Exception as error:
        (logger or log).warning(
            "OpenLineage facets for task %s could not be built (%s: %s); the event carries none",
            task_id, type(error).__name__, error,
        )  # fmt: skip
        return empty_lineage()


def sql_tables(sql: str) -> tuple[list[str], list[str]]:
    """The tables an SQL statement reads and writes, as OpenLineage's SQL parser sees them.

    :param sql: the statement.
    :return: (input tables, output tables), names as written in the SQL.
    """
    from openlineage.common.sql import parse

    parsed = parse([sql], dialect="postgres")  # Query Service speaks PostgreSQL's dialect
    if parsed is None:
        return [], []
    return [t.qualified_name for t in parsed.in_tables], [t.qualified_name for t in parsed.out_tables]


def query_lineage(
    hook: AEPHook, sql: str, *, summary: Mapping[str, Any] | None = None
) -> airflow.providers.openlineage.extractors.OperatorLineage:
    """The OpenLineage of a Query Service query: the tables its SQL reads and writes, and the SQL.

    Inputs are named by table, in the sandbox's namespace; the dataset a CTAS or INSERT INTO
    wrote is named by its id once the query is done, as a dataset export flow names its inputs,
    so the query and the export that ships its output meet in the lineage graph.

    :param hook: the task's hook (its connection names the org and the sandbox).
    :param sql: the statement.
    :param summary: the finished query's summary, for the run facets and the output's id.
    :return: inputs, outputs, the ``sql`` job facet and, once done, ``externalQuery``.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        ExternalQueryRunFacet,
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
        SQLJobFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    namespace = aep_namespace(hook.settings.org_id, hook.sandbox_name)
    _, dataset_facet_class = facet_classes()
    read, written = sql_tables(sql)
    summary = summary or {}
    dataset = summary.get("output_dataset") or {}
    inputs = [
        InputDataset(
            namespace=namespace, name=t, facets={DATASET_FACET: dataset_facet_class(type="table", name=t)}
        )
        for t in read
    ]
    outputs = []
    for table in written:
        done = dataset.get("name") == table and dataset.get("id")
        facets: dict[str, Any] = {}
        if done and summary.get("rows") is not None:
            facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
                rowCount=_int(summary.get("rows"))
            )
        outputs.append(
            OutputDataset(
                namespace=namespace,
                name=str(dataset["id"]) if done else table,
                facets={DATASET_FACET: dataset_facet_class(type="dataset" if done else "table", name=table)},
                outputFacets=facets,
            )
        )
    run_facets: dict[str, Any] = {}
    if summary.get("query_id"):
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=str(summary["query_id"]), source=namespace
        )
    return OperatorLineage(
        inputs=inputs, outputs=outputs, run_facets=run_facets, job_facets={"sql": SQLJobFacet(query=sql)}
    )
