"""The rows of a sweep on disk, safe against interruption: a table (``.csv`` or ``.parquet``) and,
while a sweep runs, a JSON-lines sidecar next to it (``<table>.rows.jsonl``) that every finished
row is appended to at once (flushed and fsynced). A sweep that is stopped, killed or loses its
cluster keeps every row in the sidecar; the next run with ``resume`` reads them back (a truncated
last line is skipped) and only computes the missing points.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ["FORMATS", "RowStore"]

FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
"""Table formats by file extension."""
_TEXT_COLUMNS = {"point_id": str, "raster_sha1": str}


def _plain(value: Any) -> Any:
    """A table cell as a plain Python value: numpy scalars unwrapped, missing values ``None``."""
    if hasattr(value, "item"):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:
        pass
    return value


class RowStore:
    """Rows of one sweep stored at ``path`` (its extension picks the format, see
    :data:`FORMATS`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.suffix.lower() not in FORMATS:
            raise ValueError(
                f"out must end in {', '.join(FORMATS)} (the table format), got {str(path)!r}"
            )
        self.format = FORMATS[self.path.suffix.lower()]
        self.sidecar = self.path.with_name(self.path.name + ".rows.jsonl")
        self._file: IO[str] | None = None

    def load(self) -> dict[str, dict[str, Any]]:
        """Finished rows by ``point_id``: the table's, then the sidecar's (later lines win)."""
        rows: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for row in self._read_table():
                rows[str(row["point_id"])] = row
        if self.sidecar.exists():
            for line in self.sidecar.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and "point_id" in row:
                    rows[row["point_id"]] = row
        return rows

    def _read_table(self) -> list[dict[str, Any]]:
        import pandas as pd

        if self.format == "csv":
            frame = pd.read_csv(self.path, dtype=_TEXT_COLUMNS)
        else:
            frame = pd.read_parquet(self.path)
        if "point_id" not in frame.columns:
            return []
        records = frame.to_dict(orient="records")
        return [{k: _plain(v) for k, v in record.items()} for record in records]

    def start(self, resume: bool) -> dict[str, dict[str, Any]]:
        """Open the sidecar for appending. ``resume``: keep and return the finished rows;
        otherwise start empty (an old sidecar is discarded)."""
        rows = self.load() if resume else {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.sidecar.open("a" if resume else "w")
        return rows

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one finished row to the sidecar, on disk before this returns."""
        if self._file is None:
            raise RuntimeError("RowStore.start() must be called before append()")
        self._file.write(json.dumps(dict(row)) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def write(self, frame) -> Path:
        """Write the table (a DataFrame) atomically: a temporary file, then a rename."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        if self.format == "csv":
            frame.to_csv(partial, index=False)
        else:
            frame.to_parquet(partial, index=False)
        os.replace(partial, self.path)
        return self.path

    def close(self, finished: bool) -> None:
        """Close the sidecar; remove it once ``finished`` (the table then holds every row)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if finished:
            self.sidecar.unlink(missing_ok=True)
