"""Files a successful run writes, in AEP's layout under the exports directory.

Dataset exports: ``<location>/<datasetId>/exportTime=YYYYMMDDHHMM/part-<random>.json.gz``
(NDJSON, gzip), or Parquet when pyarrow is installed. The location is the destination's bucket
or container and folder path, below a folder per sandbox and destination.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from aep_emulator.datasets import Dataset, records

_SAFE = re.compile(r"[^0-9A-Za-z._\-%]+")
#: Longer path components are cut: file systems refuse names over 255 bytes.
MAX_PART_CHARS = 120


class ExportError(Exception):
    """A run cannot write its files; the run fails with this message."""


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    records: int
    raw_bytes: int
    written_bytes: int


def safe_part(text: str, unsafe: re.Pattern[str] = _SAFE) -> str:
    """One path component from user input: odd characters become ``_``, no ``.``/``..``, capped length."""
    part = unsafe.sub("_", text)[:MAX_PART_CHARS]
    return part if part.strip(".") else "_" * max(len(part), 1)


def inside(root: Path, *parts: str) -> Path:
    """``root`` joined with ``parts``, refused (ExportError) if it resolves outside ``root``.

    Defence in depth: the parts are already sanitised, but a path that escapes the exports
    directory must never be written, whatever a future caller passes.
    """
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise ExportError(f"the export location {'/'.join(parts)!r} is outside the exports directory")
    return path


def location_dir(root: Path, sandbox: str, destination: str, params: dict[str, Any]) -> Path:
    """``<root>/<sandbox>/<destination>/<bucket|container|domain>/<path>``, with no way out of root."""
    parts = [sandbox, destination]
    for key in ("bucketName", "container"):
        if params.get(key):
            parts.append(str(params[key]))
    folder = params.get("path") or params.get("remotePath") or ""
    parts.extend(p for p in str(folder).split("/") if p not in ("", ".", ".."))
    return inside(root, *(safe_part(p) for p in parts))


def expand_folder_template(template: str, values: dict[str, str], moment: datetime) -> str:
    """The folder name a ``foldernameTemplate`` gives: one safe path component."""
    text = template.replace("%DATETIME(YYYYMMdd_HHmmss)%", moment.strftime("%Y%m%d_%H%M%S"))
    text = text.replace("%EXPORT_TIME%", moment.strftime("%Y%m%d%H%M"))
    for key, value in values.items():
        text = text.replace(f"%{key}%", value)
    return safe_part(text)


@dataclass(frozen=True)
class EncodedExport:
    """A JSON part file's bytes, ready to write: the same records always encode the same."""

    payload: bytes
    suffix: str
    records: int
    raw_bytes: int


def encode_json_export(rows: Iterable[dict[str, Any]], compression: str) -> EncodedExport:
    """NDJSON, gzipped (``mtime`` 0, so equal records give equal bytes) unless ``compression`` says not."""
    rows = list(rows)
    payload = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows).encode()
    if compression != "GZIP":
        return EncodedExport(payload, ".json", len(rows), len(payload))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(payload)
    return EncodedExport(buffer.getvalue(), ".json.gz", len(rows), len(payload))


@lru_cache(maxsize=64)
def seed_export(dataset: Dataset, start: int, count: int, compression: str) -> EncodedExport:
    """Records ``start`` .. ``start + count - 1`` of a seed dataset, encoded once per process.

    A seed dataset's records never change, and thousands of runs export the same ones: encoding
    them for each run (about 4 ms) made the emulator fall behind the requests it serves.
    """
    return encode_json_export(records(dataset, start, count), compression)


def _part_name() -> str:
    return f"part-00000-tid-{uuid.uuid4().int % 10**19}-{uuid.uuid4()}-c000"


def write_encoded(folder: Path, encoded: EncodedExport) -> WrittenFile:
    """One part file of a dataset export from bytes already encoded; its name is random, as AEP's are."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_part_name()}{encoded.suffix}"
    path.write_bytes(encoded.payload)
    return WrittenFile(path, encoded.records, encoded.raw_bytes, len(encoded.payload))


def write_dataset_export(
    folder: Path, records: Iterable[dict[str, Any]], *, file_type: str, compression: str
) -> WrittenFile:
    """One part file of a dataset export; its name is random, as AEP's are."""
    if file_type != "PARQUET":
        return write_encoded(folder, encode_json_export(records, compression))
    folder.mkdir(parents=True, exist_ok=True)
    rows = list(records)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("Parquet export needs pyarrow in the emulator: pip install pyarrow") from None
    table = pa.Table.from_pylist(rows)
    suffix = ".gz.parquet" if compression == "GZIP" else ".parquet"
    path = folder / f"{_part_name()}{suffix}"
    pq.write_table(table, path, compression="gzip" if compression == "GZIP" else "none")
    return WrittenFile(path, len(rows), int(table.nbytes), path.stat().st_size)


def file_summary(root: Path, folder: Path, path: Path, records: int) -> dict[str, Any]:
    """A written file as a run's target summary names it.

    ``id`` is the file below the exports directory (where to open it here); ``path`` is the file
    below the target connection's folder, as it would sit in the bucket or on the server.
    """
    return {
        "id": str(path.relative_to(root)),
        "path": path.relative_to(folder).as_posix(),
        "createdRecordCount": records,
        "outputRecordCount": records,
    }


def export_time_folder(moment: datetime) -> str:
    return "exportTime=" + moment.astimezone(timezone.utc).strftime("%Y%m%d%H%M")
