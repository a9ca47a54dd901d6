"""Dataflow runs on an accelerated clock: scheduled from ``scheduleParams``, then completed.

A run is ``inProgress`` for ``run_duration`` real seconds, then ``success`` with full metrics and
its files written, or ``failed`` with ``statusSummary.errors`` when the fault plan asks for it or
the export cannot be written.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any

from airflow_provider_aep.catalog import find_destination
from airflow_provider_aep.emulator.config import EmulatorConfig
from airflow_provider_aep.emulator.datasets import BY_ID as DATASETS_BY_ID
from airflow_provider_aep.emulator.datasets import records
from airflow_provider_aep.emulator.exports import (
    ExportError,
    expand_folder_template,
    export_time_folder,
    location_dir,
    write_dataset_export,
)
from airflow_provider_aep.emulator.faults import FaultPlan
from airflow_provider_aep.emulator.service import new_etag
from airflow_provider_aep.emulator.state import State

UNIT_SECONDS = {"hour": 3600, "day": 86400}
RUN_CLIENT = "aep_activation_batch"


class RunEngine:
    def __init__(self, config: EmulatorConfig, state: State, faults: FaultPlan) -> None:
        self.config = config
        self.state = state
        self.faults = faults

    def advance(self, now: float | None = None) -> None:
        """Start the runs that are due and finish the ones whose time is up."""
        now = time.time() if now is None else now
        with self.state.lock:
            changed = False
            for flow_id, meta in list(self.state.data["meta"]["flows"].items()):
                if meta.get("deleted") or meta.get("workflow") != "DATASETS":
                    continue
                flow = self.state.entities(meta["sandbox"], "flows").get(flow_id)
                if flow is not None and flow["state"] == "enabled":
                    changed |= self._start_due_runs(flow, meta, now)
            for run_id, meta in list(self.state.data["meta"]["runs"].items()):
                if not meta.get("done") and meta["complete_at"] <= now:
                    self._finish(run_id, meta, now)
                    changed = True
            if changed:
                self.state.save()

    # -- scheduling -------------------------------------------------------------------------------

    def _start_due_runs(self, flow: dict[str, Any], meta: dict[str, Any], now: float) -> bool:
        schedule = flow["scheduleParams"]
        once = schedule.get("exportMode") == "DAILY_FULL_EXPORT"
        interval_seconds = int(schedule.get("interval") or 0) * UNIT_SECONDS.get(
            schedule.get("timeUnit"), 86400
        )
        started = False
        while (
            meta["next_due"] <= now
            and meta["emitted"] < self.config.max_runs_per_flow
            and not meta.get("ended")
        ):
            k = meta["emitted"]
            created_s = flow["createdAt"] // 1000
            run_time = max(int(schedule["startTime"]), created_s) + k * interval_seconds
            end = schedule.get("endTime")
            if (end is not None and run_time > end) or (end is not None and time.time() > end):
                meta["ended"] = True
                break
            self._start_run(flow, k, run_time, full=k == 0 or once, now=now)
            meta["emitted"] = k + 1
            if once or interval_seconds == 0:
                meta["ended"] = True
            meta["next_due"] += max(interval_seconds / self.config.time_scale, 0.5)
            started = True
        return started

    def _start_run(self, flow: dict[str, Any], index: int, run_time: int, *, full: bool, now: float) -> None:
        sandbox = flow["sandboxName"]
        stamp = int(now * 1000)
        run = {
            "id": str(uuid.uuid4()),
            "createdAt": stamp,
            "updatedAt": stamp,
            "createdBy": f"{RUN_CLIENT}@AdobeID",
            "updatedBy": "acp_foundation_connectors@AdobeID",
            "createdClient": RUN_CLIENT,
            "updatedClient": "acp_foundation_connectors",
            "sandboxId": flow["sandboxId"],
            "sandboxName": sandbox,
            "imsOrgId": flow["imsOrgId"],
            "flowId": flow["id"],
            "flowSpec": dict(flow["flowSpec"]),
            "providerRefId": uuid.uuid4().hex,
            "etag": new_etag(),
            "metrics": {
                "durationSummary": {"startedAtUTC": stamp},
                "statusSummary": {"status": "inProgress"},
            },
            "activities": [],
        }
        self.state.entities(sandbox, "runs")[run["id"]] = run
        self.state.run_meta(run["id"]).update(
            {
                "sandbox": sandbox,
                "complete_at": now + self.config.run_duration,
                "index": index,
                "run_time": run_time,
                "full": full,
                "fail_with": self.faults.take_run_failure(flow["id"]),
                "done": False,
            }
        )
        flow["lastRunDetails"] = {"id": run["id"], "state": "inProgress", "startedAtUTC": stamp}

    # -- completion ------------------------------------------------------------------------------

    def _finish(self, run_id: str, meta: dict[str, Any], now: float) -> None:
        meta["done"] = True
        run = self.state.entities(meta["sandbox"], "runs").get(run_id)
        if run is None:
            return
        flow = self.state.entities(meta["sandbox"], "flows").get(run["flowId"])
        stamp = int(now * 1000)
        metrics = run["metrics"]
        metrics["durationSummary"]["completedAtUTC"] = stamp
        errors = meta.get("fail_with")
        if not errors and flow is not None:
            try:
                metrics.update(self._export(flow, meta))
            except ExportError as err:
                errors = [{"code": "CONNECTOR-1001-500", "message": str(err)}]
        if errors:
            metrics.setdefault(
                "recordSummary",
                {
                    "inputRecordCount": 0,
                    "outputRecordCount": 0,
                    "skippedRecordCount": 0,
                    "failedRecordCount": 0,
                },
            )
            metrics["statusSummary"] = {"status": "failed", "errors": errors}
        else:
            metrics["statusSummary"] = {"status": "success", "errors": []}
        run["updatedAt"] = stamp
        run["etag"] = new_etag()
        if flow is not None:
            flow["lastRunDetails"] = {
                "id": run_id,
                "state": metrics["statusSummary"]["status"],
                "startedAtUTC": metrics["durationSummary"]["startedAtUTC"],
                "completedAtUTC": stamp,
            }

    def _export(self, flow: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        """Write the run's files and return its record, size and file summaries."""
        sandbox = meta["sandbox"]
        source = self.state.entities(sandbox, "sourceConnections").get(flow["sourceConnectionIds"][0])
        target = self.state.entities(sandbox, "targetConnections").get(flow["targetConnectionIds"][0])
        if source is None or target is None:
            raise ExportError("the flow's source or target connection no longer exists")
        params = target["params"]
        destination = find_destination(target["connectionSpec"]["id"])
        folder = location_dir(
            self.config.exports_dir, sandbox, destination.key if destination else "destination", params
        )
        moment = datetime.fromtimestamp(meta["run_time"], tz=timezone.utc)
        template = flow["scheduleParams"].get("foldernameTemplate")
        source_summaries, file_summaries = [], []
        totals = {"records": 0, "raw": 0, "written": 0}
        for entry in source["params"]["datasets"]:
            dataset = DATASETS_BY_ID[entry["dataSetId"]]
            if meta["full"]:
                start, count = 0, dataset.record_count
            else:
                start, count = (
                    dataset.record_count + (meta["index"] - 1) * dataset.growth_per_run,
                    dataset.growth_per_run,
                )
            if template:
                values = {
                    "DESTINATION": destination.name if destination else "destination",
                    "DATASET_ID": dataset.id,
                    "DATASET_NAME": dataset.name,
                    "SANDBOX_NAME": sandbox,
                    "DESTINATION_INSTANCE_ID": target["id"],
                    "DESTINATION_INSTANCE_NAME": target["name"],
                    "ORGANIZATION_NAME": "emulator",
                }
                dataset_folder = folder / expand_folder_template(template, values, moment)
            else:
                dataset_folder = folder / dataset.id / export_time_folder(moment)
            written = write_dataset_export(
                dataset_folder,
                records(dataset, start, count),
                file_type=str(params.get("datasetFileType", "JSON")),
                compression=str(params.get("compression", "GZIP")),
            )
            totals["records"] += written.records
            totals["raw"] += written.raw_bytes
            totals["written"] += written.written_bytes
            relative = str(written.path.relative_to(self.config.exports_dir))
            file_summaries.append({"id": relative, "outputRecordCount": written.records})
            source_summaries.append(
                {
                    "id": dataset.id,
                    "inputRecordCount": count,
                    "outputRecordCount": written.records,
                    "skippedRecordCount": 0,
                    "failedRecordCount": 0,
                    "entitySummaries": [
                        {
                            "id": dataset.id,
                            "name": dataset.name,
                            "inputRecordCount": count,
                            "outputRecordCount": written.records,
                        }
                    ],
                }
            )
        return {
            "recordSummary": {
                "inputRecordCount": totals["records"],
                "outputRecordCount": totals["records"],
                "skippedRecordCount": 0,
                "failedRecordCount": 0,
                "sourceSummaries": source_summaries,
                "targetSummaries": [
                    {
                        "id": target["id"],
                        "outputRecordCount": totals["records"],
                        "entitySummaries": file_summaries,
                    }
                ],
            },
            "sizeSummary": {"inputBytes": totals["raw"], "outputBytes": totals["written"]},
            "fileSummary": {"inputFileCount": len(file_summaries), "outputFileCount": len(file_summaries)},
        }
