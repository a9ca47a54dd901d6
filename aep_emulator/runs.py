"""Dataflow runs on an accelerated clock: scheduled from ``scheduleParams``, then completed.

A run is ``inProgress`` for ``run_duration`` real seconds, then ``success`` with full metrics and
its files written, or ``failed`` with ``statusSummary.errors`` when the fault plan asks for it or
the export cannot be written. A failed run can be started again (``RE_TRIGGER``): each attempt
records which credentials of the flow's base connection it used.
"""

from __future__ import annotations

import heapq
import logging
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aep_emulator import audience_files, credentials, segments
from aep_emulator.catalog import find_destination
from aep_emulator.config import EmulatorConfig
from aep_emulator.datasets import Dataset, records
from aep_emulator.exports import (
    ExportError,
    WrittenFile,
    expand_folder_template,
    export_time_folder,
    file_summary,
    inside,
    location_dir,
    seed_export,
    write_dataset_export,
    write_encoded,
)
from aep_emulator.faults import FaultPlan
from aep_emulator.lake import DataLake, DerivedDataset
from aep_emulator.service import new_etag
from aep_emulator.state import State
from aep_emulator.validation import general_transform

UNIT_SECONDS = {"hour": 3600, "day": 86400}
#: Flows (and runs) the background clock looks over per tick, five ticks a second: all of them
#: at the scale of a test, a round every two seconds for ten thousand, and never a tick that
#: holds the server for the whole fleet.
SWEEP = 1000
RUN_CLIENT = "aep_activation_batch"
logger = logging.getLogger(__name__)


class RunEngine:
    """Starts and finishes runs when they are due.

    Every request ticks the clock, so a request's tick must cost what is due, not what exists:
    flows and runs wait in a heap by due time (:meth:`advance_due`). The background clock
    (:meth:`advance`, five times a second) also looks over a slice of every flow and run, and
    the admin routes over all of them, to find what changed behind the engine's back (a flow
    broken in a state file, a schedule rearmed in place).
    """

    def __init__(
        self, config: EmulatorConfig, state: State, faults: FaultPlan, lake: DataLake | None = None
    ) -> None:
        self.config = config
        self.state = state
        self.faults = faults
        #: The datasets runs export: seed ones, and those the sandbox's queries made.
        self.lake = lake or DataLake(state)
        #: (due time, sequence, "flow" or "run", id); an entry whose time is no longer the one
        #: in ``_scheduled`` is stale and skipped.
        self._heap: list[tuple[float, int, str, str]] = []
        self._scheduled: dict[tuple[str, str], float] = {}
        self._sequence = 0
        self._data: dict[str, Any] | None = None
        #: kind → (the ids of this round, where the next slice starts).
        self._sweeps: dict[str, tuple[list[str], int]] = {}

    def advance(self, now: float | None = None, *, every: bool = False) -> None:
        """Start the runs that are due and finish the ones whose time is up; then look over the
        next :data:`SWEEP` flows and runs (``every``: all of them) for changes made behind the
        engine's back.

        One flow the engine cannot schedule is logged and set aside (until a PATCH changes it):
        it must not stop the runs of every other flow, nor fail every request that ticks the clock.
        """
        now = time.time() if now is None else now
        with self.state.lock:
            self.advance_due(now)
            changed = False
            meta = self.state.data["meta"]
            for kind, advance in (("flows", self._advance_flow), ("runs", self._advance_run)):
                for key in self._next_to_sweep(kind, every):
                    changed |= advance(key, meta[kind].get(key), now)
            if changed:
                self.state.save()

    def _next_to_sweep(self, kind: str, every: bool) -> list[str]:
        """The next ids of ``kind`` in a round over all of them, a slice per tick."""
        if every:
            self._sweeps.pop(kind, None)
            return list(self.state.data["meta"][kind])
        keys, start = self._sweeps.get(kind) or ([], 0)
        if start >= len(keys):
            keys, start = list(self.state.data["meta"][kind]), 0
        self._sweeps[kind] = (keys, start + SWEEP)
        return keys[start : start + SWEEP]

    def advance_due(self, now: float | None = None) -> None:
        """As :meth:`advance`, for what is due by now only: what every request does first."""
        now = time.time() if now is None else now
        with self.state.lock:
            if self._forget_if_reset():
                self.advance(now, every=True)
                return
            changed = False
            # Runs started here are queued at once: one that is already due finishes in this tick.
            while self._queue_touched() or (self._heap and self._heap[0][0] <= now):
                while self._heap and self._heap[0][0] <= now:
                    at, _, kind, key = heapq.heappop(self._heap)
                    if self._scheduled.get((kind, key)) != at:
                        continue
                    del self._scheduled[(kind, key)]
                    if kind == "flow":
                        changed |= self._advance_flow(key, self.state.data["meta"]["flows"].get(key), now)
                    else:
                        changed |= self._advance_run(key, self.state.data["meta"]["runs"].get(key), now)
            if changed:
                self.state.save()

    def _queue_touched(self) -> bool:
        """Queue the flows and runs handed out since the last look; whether there were any."""
        flows, runs = self.state.take_touched()
        for flow_id in flows:
            self._schedule_flow(flow_id, self.state.data["meta"]["flows"].get(flow_id))
        for run_id in runs:
            self._schedule_run(run_id, self.state.data["meta"]["runs"].get(run_id))
        return bool(flows or runs)

    def _forget_if_reset(self) -> bool:
        """Drop the schedule when the state was replaced (a reset, or a state file just read)."""
        if self.state.data is self._data:
            return False
        self._data = self.state.data
        self._heap.clear()
        self._scheduled.clear()
        self._sweeps.clear()
        return True

    def _advance_flow(self, flow_id: str, meta: dict[str, Any] | None, now: float) -> bool:
        if not meta or meta.get("deleted") or meta.get("broken"):
            return False
        flow = self.state.entities(meta["sandbox"], "flows").get(flow_id)
        if flow is None or flow["state"] != "enabled":
            return False
        try:
            changed = self._start_due(flow, meta, now)
        except Exception:
            logger.exception("AEP emulator: flow %s cannot be scheduled; its runs stop", flow_id)
            meta["broken"] = True
            return True
        self._schedule_flow(flow_id, meta)
        return changed

    def _advance_run(self, run_id: str, meta: dict[str, Any] | None, now: float) -> bool:
        if not meta or meta.get("done"):
            return False
        if meta["complete_at"] > now:
            self._schedule_run(run_id, meta)
            return False
        self._finish(run_id, meta, now)
        return True

    def _schedule_flow(self, flow_id: str, meta: dict[str, Any] | None) -> None:
        """Queue the flow for its next start, if it has one (a disabled flow is queued too: cheap)."""
        if not meta or meta.get("deleted") or meta.get("broken") or "sandbox" not in meta:
            return
        if meta.get("workflow") == "DATASETS":
            pending = (
                [] if meta.get("ended") or meta.get("emitted", 0) >= self.config.max_runs_per_flow else [meta]
            )
        else:
            pending = [
                s
                for s in (meta.get("segments") or {}).values()
                if not s["ended"] and s["emitted"] < self.config.max_runs_per_flow
            ]
        due = [s["next_due"] for s in pending if "next_due" in s]
        if due:
            self._push("flow", flow_id, min(due))

    def _schedule_run(self, run_id: str, meta: dict[str, Any] | None) -> None:
        if meta and not meta.get("done") and "complete_at" in meta:
            self._push("run", run_id, meta["complete_at"])

    def _push(self, kind: str, key: str, at: float) -> None:
        if self._scheduled.get((kind, key)) == at:
            return
        self._scheduled[(kind, key)] = at
        self._sequence += 1
        heapq.heappush(self._heap, (at, self._sequence, kind, key))

    def _start_due(self, flow: dict[str, Any], meta: dict[str, Any], now: float) -> bool:
        if meta.get("workflow") == "DATASETS":
            return self._start_due_runs(flow, meta, now)
        return self._start_due_segment_runs(flow, meta, now)

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

    def _start_due_segment_runs(self, flow: dict[str, Any], meta: dict[str, Any], now: float) -> bool:
        """One run exports every segment due now, with a source summary per segment."""
        due = segments.due_segments(meta, now, self.config.max_runs_per_flow, self.config.time_scale)
        if not due:
            return False
        run_time = min(d["run_time"] for d in due.values())
        self._start_run(flow, 0, run_time, full=True, now=now, due_segments=due)
        return True

    def _start_run(
        self,
        flow: dict[str, Any],
        index: int,
        run_time: int,
        *,
        full: bool,
        now: float,
        due_segments: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
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
        self.state.add_run(sandbox, run)
        self.state.run_meta(run["id"]).update(
            {
                "sandbox": sandbox,
                "complete_at": now + self.config.run_duration,
                "index": index,
                "run_time": run_time,
                "full": full,
                "fail_with": self.faults.take_run_failure(flow["id"], 1),
                "segments": due_segments,
                "done": False,
                "attempt": 1,
                "credentials": [{"attempt": 1, "startedAtUTC": stamp, **self._credentials_used(flow)}],
            }
        )
        flow["lastRunDetails"] = {"id": run["id"], "state": "inProgress", "startedAtUTC": stamp}
        return run

    def start_now(self, flow: dict[str, Any], run_time: int, now: float) -> dict[str, Any]:
        """An on-demand run (``POST /runs``): a full export that starts at once."""
        return self._start_run(flow, 0, run_time, full=True, now=now)

    def start_audiences_now(self, flow: dict[str, Any], segment_ids: list[str], now: float) -> dict[str, Any]:
        """An ad-hoc activation run: a full export of these audiences of an activation flow, at once."""
        due = {s: {"index": 0, "run_time": int(now), "incremental": False} for s in segment_ids}
        return self._start_run(flow, 0, int(now), full=True, now=now, due_segments=due)

    def retrigger(self, run: dict[str, Any], flow: dict[str, Any], now: float) -> dict[str, Any]:
        """The same run, started again: a new attempt with a new etag, start time and no errors."""
        meta = self.state.run_meta(run["id"])
        attempt = int(meta.get("attempt", 1)) + 1
        stamp = int(now * 1000)
        run["metrics"] = {
            "durationSummary": {"startedAtUTC": stamp},
            "statusSummary": {"status": "inProgress"},
        }
        run["etag"] = new_etag()
        run["updatedAt"] = stamp
        meta.update(
            {
                "complete_at": now + self.config.run_duration,
                "fail_with": self.faults.take_run_failure(flow["id"], attempt),
                "done": False,
                "attempt": attempt,
            }
        )
        record = {"attempt": attempt, "startedAtUTC": stamp, **self._credentials_used(flow)}
        meta.setdefault("credentials", []).append(record)
        flow["lastRunDetails"] = {"id": run["id"], "state": "inProgress", "startedAtUTC": stamp}
        return run

    def _credentials_used(self, flow: dict[str, Any]) -> dict[str, Any]:
        """The flow's base connection (the target's) and the credentials it holds right now."""
        sandbox = flow["sandboxName"]
        target = self.state.entities(sandbox, "targetConnections").get(flow["targetConnectionIds"][0])
        base_id = (target or {}).get("baseConnectionId")
        base = self.state.entities(sandbox, "connections").get(base_id) if base_id else None
        kept = self.state.credentials.get(base_id) if base_id else None
        return credentials.used_by_run(base, kept, self.state.fingerprint_key)

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
                metrics.update(
                    self._export_segments(flow, meta, run_id)
                    if meta.get("segments")
                    else self._export(flow, meta)
                )
            except (ExportError, OSError) as err:
                errors = [{"code": "CONNECTOR-1001-500", "message": str(err)}]
            except Exception:
                logger.exception("AEP emulator: run %s of flow %s could not be completed", run_id, flow["id"])
                errors = [
                    {"code": "CONNECTOR-1000-500", "message": "The emulator could not complete the run"}
                ]
        activity_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"aep-emulator-activity:{run_id}"))
        if errors:
            records = metrics.setdefault("recordSummary", empty_record_summary())
            records["failedInfo"] = [dict(e) for e in errors]
            metrics["statusSummary"] = {"status": "failed", "errors": errors, "activityRefs": [activity_id]}
        else:
            metrics["statusSummary"] = {"status": "success", "errors": [], "activityRefs": [activity_id]}
        run["activities"] = [activity(activity_id, metrics, stamp)]
        run["updatedAt"] = stamp
        run["etag"] = new_etag()
        if flow is not None:
            flow["lastRunDetails"] = {
                "id": run_id,
                "state": metrics["statusSummary"]["status"],
                "startedAtUTC": metrics["durationSummary"]["startedAtUTC"],
                "completedAtUTC": stamp,
            }

    def _export_segments(self, flow: dict[str, Any], meta: dict[str, Any], run_id: str) -> dict[str, Any]:
        """A file per due audience, named from its filenameTemplate: CSV split at ``csv_split_rows``
        for a legacy destination; the mapping set's columns in the target's format for an enhanced one."""
        sandbox = meta["sandbox"]
        target = self.state.entities(sandbox, "targetConnections").get(flow["targetConnectionIds"][0])
        if target is None:
            raise ExportError("the flow's target connection no longer exists")
        destination = find_destination(target["connectionSpec"]["id"])
        folder = location_dir(
            self.config.exports_dir,
            sandbox,
            destination.key if destination else "destination",
            target["params"],
        )
        transform = general_transform(flow.get("transformations"))
        if transform is None:
            raise ExportError("the flow has no GeneralTransform with segment selectors")
        params = transform["params"]
        selected = {s["value"]["id"]: s["value"] for s in params["segmentSelectors"]["selectors"]}
        enhanced = "profileSelectors" not in params
        if enhanced:
            columns = self._mapped_columns(sandbox, params)
            mandatory = [columns[h] for h in params.get("mandatoryFields") or [] if h in columns]
        else:
            paths = [s["value"]["path"] for s in params["profileSelectors"]["selectors"]] or [
                "personalEmail.address"
            ]
            columns = {path: path for path in paths}
            mandatory = params["profileSelectors"].get("mandatoryFields") or []
        totals = {"input": 0, "output": 0, "bytes": 0}
        read, written, file_summaries, paths_written = [], [], [], []
        name = destination.name if destination else "destination"
        for segment_id, occurrence in meta["segments"].items():
            value = selected.get(segment_id)
            if value is None:
                continue
            size = segments.population(segment_id)
            delta = size // 20 + 1
            start, count = (
                (size + (occurrence["index"] - 1) * delta, delta) if occurrence["incremental"] else (0, size)
            )
            rows = list(segments.profiles(segment_id, start, count, list(columns.values())))
            kept = [row for row in rows if all(row.get(field) for field in mandatory)]
            moment = segments.utc(occurrence["run_time"])
            if enhanced:
                base = audience_files.file_base_name(
                    value.get("filenameTemplate") or segments.ENHANCED_DEFAULT_TEMPLATE,
                    destination=name,
                    segment=value,
                    flow=flow,
                    org_name=self.config.org_id.split("@")[0],
                    moment=moment,
                )
                by_header = [{h: row.get(source) for h, source in columns.items()} for row in kept]
                made = audience_files.write_audience_file(
                    folder, base, list(columns), by_header, target["params"]
                )
                outputs = [(made.path, made.records)]
            else:
                base = segments.file_base_name(
                    value["filenameTemplate"], destination=name, segment=value, moment=moment
                )
                outputs = [
                    (path, sum(1 for _ in path.open(encoding="utf-8")) - 1)
                    for path in segments.write_csv_files(
                        folder, base, list(columns), kept, self.config.csv_split_rows
                    )
                ]
            for path, lines in outputs:
                totals["bytes"] += path.stat().st_size
                file_summaries.append(file_summary(self.config.exports_dir, folder, path, lines))
                paths_written.append(path)
            totals["input"] += len(rows)
            totals["output"] += len(kept)
            # Adobe's activation runs count each audience as an entity ``segment:<id>``.
            entity = f"segment:{segment_id}"
            read.append(
                {"id": entity, "inputRecordCount": len(rows), "skippedRecordCount": len(rows) - len(kept)}
            )
            written.append({"id": entity, "createdRecordCount": len(kept), "outputRecordCount": len(kept)})
        if enhanced and target["params"].get("includeFileManifest") and paths_written:
            first = min(o["run_time"] for o in meta["segments"].values())
            audience_files.write_manifest(folder, flow["id"], run_id, segments.utc(first), paths_written)
        skipped = totals["input"] - totals["output"]
        return {
            "recordSummary": {
                "inputRecordCount": totals["input"],
                "createdRecordCount": totals["output"],
                "outputRecordCount": totals["output"],
                "skippedRecordCount": skipped,
                "failedRecordCount": 0,
                "sourceSummaries": [
                    {
                        "id": flow["sourceConnectionIds"][0],
                        "inputRecordCount": totals["input"],
                        "skippedRecordCount": skipped,
                        "entitySummaries": read,
                    }
                ],
                "targetSummaries": [
                    {
                        "id": target["id"],
                        "createdRecordCount": totals["output"],
                        "outputRecordCount": totals["output"],
                        # The audiences, then the files written (``path``), which AEP's example omits.
                        "entitySummaries": written + file_summaries,
                    }
                ],
                "skippedInfo": skipped_info(skipped),
            },
            "sizeSummary": {"inputBytes": totals["bytes"], "outputBytes": totals["bytes"]},
            "fileSummary": {"inputFileCount": 0, "outputFileCount": len(file_summaries)},
        }

    def _mapped_columns(self, sandbox: str, params: dict[str, Any]) -> dict[str, str]:
        """Column header -> profile attribute, from the flow's mapping set."""
        mapping_id = (params.get("profileMapping") or {}).get("mappingId")
        mapping_set = self.state.entities(sandbox, "mappingSets").get(str(mapping_id)) if mapping_id else None
        if mapping_set is None:
            raise ExportError("the flow has no mapping set (profileMapping): no columns to export")
        return {m["destination"]: m["source"] for m in mapping_set["mappings"]}

    def _seed_span(self, dataset: Dataset, meta: dict[str, Any]) -> tuple[int, int]:
        """(start, count): the records of a seed dataset a run exports, all of them (a full
        export) or what came since; a seed dataset grows by ``growth_per_run`` records a run."""
        if meta["full"]:
            return 0, dataset.record_count
        return dataset.record_count + (meta["index"] - 1) * dataset.growth_per_run, dataset.growth_per_run

    def _rows(
        self, flow_id: str, dataset: Dataset | DerivedDataset, meta: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """What a run exports of a dataset: all of it (a full export) or what came since.

        A derived dataset holds the rows its queries wrote: an incremental export takes those
        appended (INSERT INTO) since the flow's previous run of it, which the flow's
        bookkeeping remembers.
        """
        if isinstance(dataset, Dataset):
            return list(records(dataset, *self._seed_span(dataset, meta)))
        flow_meta = self.state.data["meta"]["flows"].setdefault(flow_id, {})
        marks = flow_meta.setdefault("derived_exported", {})
        start = 0 if meta["full"] else min(int(marks.get(dataset.id, 0)), len(dataset.rows))
        marks[dataset.id] = len(dataset.rows)
        return [dict(row) for row in dataset.rows[start:]]

    def _write(
        self,
        folder: Path,
        flow_id: str,
        dataset: Dataset | DerivedDataset,
        meta: dict[str, Any],
        params: dict[str, Any],
    ) -> WrittenFile:
        """The run's part file of one dataset; a seed dataset's JSON is encoded once for every run."""
        file_type = str(params.get("datasetFileType", "JSON"))
        compression = str(params.get("compression", "GZIP"))
        if isinstance(dataset, Dataset) and file_type != "PARQUET":
            start, count = self._seed_span(dataset, meta)
            return write_encoded(folder, seed_export(dataset, start, count, compression))
        rows = self._rows(flow_id, dataset, meta)
        return write_dataset_export(folder, rows, file_type=file_type, compression=compression)

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
            dataset = self.lake.find(sandbox, entry["dataSetId"])
            if dataset is None:
                raise ExportError(f"the dataset {entry['dataSetId']} no longer exists")
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
                dataset_folder = inside(folder, expand_folder_template(template, values, moment))
            else:
                dataset_folder = folder / dataset.id / export_time_folder(moment)
            written = self._write(dataset_folder, flow["id"], dataset, meta, params)
            count = written.records
            totals["records"] += written.records
            totals["raw"] += written.raw_bytes
            totals["written"] += written.written_bytes
            file_summaries.append(
                file_summary(self.config.exports_dir, folder, written.path, written.records)
            )
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
                            "skippedRecordCount": 0,
                            "outputRecordCount": written.records,
                        }
                    ],
                }
            )
        return {
            "recordSummary": {
                "inputRecordCount": totals["records"],
                "createdRecordCount": totals["records"],
                "outputRecordCount": totals["records"],
                "skippedRecordCount": 0,
                "failedRecordCount": 0,
                "sourceSummaries": source_summaries,
                "targetSummaries": [
                    {
                        "id": target["id"],
                        "createdRecordCount": totals["records"],
                        "outputRecordCount": totals["records"],
                        "entitySummaries": file_summaries,
                    }
                ],
                "skippedInfo": [],
            },
            "sizeSummary": {"inputBytes": totals["raw"], "outputBytes": totals["written"]},
            "fileSummary": {"inputFileCount": len(file_summaries), "outputFileCount": len(file_summaries)},
        }


def empty_record_summary() -> dict[str, Any]:
    """The record summary of a run that wrote nothing."""
    return {
        "inputRecordCount": 0,
        "createdRecordCount": 0,
        "outputRecordCount": 0,
        "skippedRecordCount": 0,
        "failedRecordCount": 0,
        "sourceSummaries": [],
    }


def skipped_info(skipped: int) -> list[dict[str, Any]]:
    """Why records were skipped, as Adobe's activation run example words it."""
    if not skipped:
        return []
    return [
        {
            "code": "ACTIVATION_BATCH-0000-SKIP",
            "message": "Records didn't match attribute filter.",
            "count": skipped,
        }
    ]


def activity(activity_id: str, metrics: dict[str, Any], stamp: int) -> dict[str, Any]:
    """The run's one activity, with the run's own summaries (no per-source or per-target ones)."""
    records = {
        k: v
        for k, v in (metrics.get("recordSummary") or {}).items()
        if k not in ("sourceSummaries", "targetSummaries")
    }
    status = metrics["statusSummary"]
    return {
        "id": activity_id,
        "name": "Activation Batch XdmProcessor Activity",
        "updatedAtUTC": stamp,
        "durationSummary": dict(metrics["durationSummary"]),
        "latencySummary": {},
        "sizeSummary": dict(metrics.get("sizeSummary") or {}),
        "recordSummary": records,
        "fileSummary": dict(metrics.get("fileSummary") or {}),
        "statusSummary": {
            "status": status["status"],
            **({"errors": status["errors"]} if status.get("errors") else {}),
            "extensions": {},
        },
    }
