"""The files an audience export to an enhanced cloud-storage destination writes.

One file per audience and run, named from the selector's ``filenameTemplate`` (the enhanced
macros), with the mapping set's column headers, in the target connection's file type (CSV with
its ``csvOptions``, JSON lines, or Parquet when pyarrow is installed) and compression; and, with
``includeFileManifest``, a manifest that lists the run's files (Adobe's
``manifest-<dataflow>-<run>.json``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aep_emulator.exports import ExportError, WrittenFile, inside, safe_part

_SAFE = re.compile(r"[^0-9A-Za-z._\-]+")
#: The csvOptions defaults of the target spec.
CSV_DEFAULTS = {"delimiter": ",", "quote": "", "escape": "\\", "nullValue": "null", "emptyValue": ""}
SUFFIXES = {"CSV": ".csv", "JSON": ".json", "PARQUET": ".parquet"}


def file_base_name(
    template: str,
    *,
    destination: str,
    segment: dict[str, Any],
    flow: dict[str, Any],
    org_name: str,
    moment: datetime,
) -> str:
    """The file name (no suffix) the enhanced macros give for one audience."""
    values = {
        "%DESTINATION%": destination,
        "%SEGMENT_ID%": segment["id"],
        "%SEGMENT_NAME%": segment.get("name") or segment["id"],
        "%DESTINATION_INSTANCE_ID%": flow["id"],
        "%DESTINATION_INSTANCE_NAME%": flow.get("name") or flow["id"],
        "%ORGANIZATION_NAME%": org_name,
        "%SANDBOX_NAME%": flow.get("sandboxName", ""),
        "%DATETIME(YYYYMMdd_HHmmss)%": moment.strftime("%Y%m%d_%H%M%S"),
        "%TIMESTAMP%": str(int(moment.timestamp())),
    }
    text = template
    for macro, value in values.items():
        text = text.replace(macro, value)
    return safe_part(text, _SAFE)


def write_audience_file(
    folder: Path, base: str, headers: Sequence[str], rows: Sequence[dict[str, Any]], params: dict[str, Any]
) -> WrittenFile:
    """One audience's file in the target's format; ``rows`` map header -> value (None: no value)."""
    folder.mkdir(parents=True, exist_ok=True)
    file_type = str(params.get("fileType", "CSV"))
    gzipped = params.get("compression") == "GZIP"
    if file_type == "PARQUET":
        return _write_parquet(folder, base, rows, gzipped)
    if file_type == "JSON":
        payload = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows).encode()
    else:
        payload = _csv_text(headers, rows, {**CSV_DEFAULTS, **(params.get("csvOptions") or {})}).encode()
    path = inside(folder, base + SUFFIXES[file_type] + (".gz" if gzipped else ""))
    if gzipped:
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
            handle.write(payload)
        path.write_bytes(buffer.getvalue())
    else:
        path.write_bytes(payload)
    return WrittenFile(path, len(rows), len(payload), path.stat().st_size)


def _csv_text(headers: Sequence[str], rows: Sequence[dict[str, Any]], options: dict[str, str]) -> str:
    """CSV as the options ask: the delimiter, the quote ("" is none), the escape, what null and
    blank fields become."""
    buffer = io.StringIO()
    quote = options["quote"]
    writer = csv.writer(
        buffer,
        delimiter=options["delimiter"],
        quotechar=quote or '"',
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        escapechar=options["escape"],
        doublequote=False,
        lineterminator="\n",
    )
    writer.writerow(headers)
    for row in rows:
        writer.writerow(
            [
                options["nullValue"] if row.get(h) is None else (row[h] or options["emptyValue"])
                for h in headers
            ]
        )
    return buffer.getvalue()


def _write_parquet(folder: Path, base: str, rows: Sequence[dict[str, Any]], gzipped: bool) -> WrittenFile:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("Parquet export needs pyarrow in the emulator: pip install pyarrow") from None
    table = pa.Table.from_pylist(list(rows))
    path = inside(folder, base + (".gz.parquet" if gzipped else ".parquet"))
    pq.write_table(table, path, compression="gzip" if gzipped else "none")
    return WrittenFile(path, len(rows), int(table.nbytes), path.stat().st_size)


def write_manifest(folder: Path, flow_id: str, run_id: str, moment: datetime, files: Sequence[Path]) -> Path:
    """``manifest-<dataflow>-<run>.json``: the run's files, their sizes and when the run was due."""
    body = {
        "flowRunId": run_id,
        "scheduledTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "exportResults": [
            {"sinkPath": "/" + folder.name, "name": path.name, "size": path.stat().st_size} for path in files
        ],
    }
    path = inside(folder, safe_part(f"manifest-{flow_id}-{run_id}.json", _SAFE))
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")
    return path
