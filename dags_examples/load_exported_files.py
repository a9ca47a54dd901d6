"""Load the files of each day's AEP export, started by the monitoring DAG's asset event.

Scheduled on the ``aep-daily-export`` alias that ``monitor_daily_export.py`` emits through: it
runs once per successful export run, reads the event's ``extra`` (run id, record counts, file
URIs) and processes every file the run wrote; here it counts their records and checks them
against AEP's count, where a real pipeline would load a warehouse table.

Files are opened with Airflow's ``ObjectStoragePath``, so the storage provider of the URI's
scheme (Amazon for ``s3://``, Google for ``gs://``, ...) and its connection do the reading. When
``AEP_LOCAL_STORAGE`` names a folder, ``<folder>/<bucket or container>/<key>`` is read instead:
a local copy of the storage, as the emulator's exports give one.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pendulum
from airflow.sdk import DAG, AssetAlias, task

DAILY_EXPORT = AssetAlias("aep-daily-export")


def read_bytes(uri: str) -> bytes:
    """The file's bytes, from the storage the URI names (or its local copy)."""
    local = os.environ.get("AEP_LOCAL_STORAGE")
    if local:
        parts = urlsplit(uri)
        bucket = parts.netloc.split("@", 1)[0]
        return Path(local, bucket, unquote(parts.path).lstrip("/")).read_bytes()
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri).read_bytes()


def count_records(name: str, data: bytes) -> int:
    """Records in one exported file: NDJSON lines, CSV rows after the header, or Parquet rows."""
    if name.endswith(".gz") and not name.endswith(".parquet"):
        data = gzip.decompress(data)
        name = name[:-3]
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(io.BytesIO(data)).metadata.num_rows)
    lines = sum(1 for line in data.splitlines() if line.strip())
    return lines - 1 if name.endswith(".csv") else lines


with DAG(
    dag_id="aep_load_exported_files",
    description="Process each day's exported AEP files once the monitoring DAG announces them",
    schedule=DAILY_EXPORT,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["aep", "example"],
) as dag:

    @task
    def load(*, triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One entry per export run announced: its records as AEP counted them and as loaded."""
        loaded = []
        for asset_events in (triggering_asset_events or {}).values():
            for event in asset_events:
                extra = event.extra or {}
                records = sum(count_records(f["path"], read_bytes(f["uri"])) for f in extra.get("files", []))
                print(
                    f"Run {extra.get('run_id')} ({extra.get('location')}): loaded {records} records "
                    f"from {len(extra.get('files', []))} file(s); AEP counted {extra.get('output_records')}"
                )
                every_file_named = extra.get("files_listed") == extra.get("files_out")
                if every_file_named and records != extra.get("output_records"):
                    raise ValueError(f"run {extra.get('run_id')}: {records} records read, AEP counted "
                                     f"{extra.get('output_records')}")  # fmt: skip
                loaded.append(
                    {
                        "run_id": extra.get("run_id"),
                        "location": extra.get("location"),
                        "files": len(extra.get("files", [])),
                        "records_loaded": records,
                        "records_exported": extra.get("output_records"),
                    }
                )
        return loaded

    load()
