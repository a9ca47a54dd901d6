"""Settings of one emulator instance (command-line options map one to one)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEMO_CLIENT_ID = "demo-client-id"
DEMO_CLIENT_SECRET = "demo-client-secret"
DEMO_ORG_ID = "EMULATOR0000000000000001@AdobeOrg"
#: AEP's gateway takes request bodies of a few MB; larger ones get a 413 and are not read.
MAX_BODY_BYTES = 4 * 1024 * 1024

#: Seconds an idle keep-alive connection stays open, as a cloud gateway keeps it (uvicorn's
#: default is 5, the same as httpx's own expiry, so a client reusing a connection at 5 s met
#: one the server had just closed: "Server disconnected without sending a response").
KEEP_ALIVE_SECONDS = 75


def default_exports_dir() -> Path:
    """Where exports go unless told: the user's cache, never the working directory, so running
    the emulator from a clone leaves ``git status`` clean. ``$XDG_CACHE_HOME`` (when absolute),
    else ``~/.cache``, else the temporary directory, then ``aep-emulator/exports``."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):
        try:
            cache = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory to be found
            cache = tempfile.gettempdir()
    return Path(cache, "aep-emulator", "exports")


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = field(default=DEMO_CLIENT_SECRET, repr=False)
    org_id: str = DEMO_ORG_ID
    token_lifetime: int = 86399
    #: Real seconds between enabling a flow and its first run.
    first_run_delay: float = 2.0
    #: Real seconds a run stays ``inProgress``.
    run_duration: float = 2.0
    #: Real seconds a Query Service query takes from SUBMITTED to its end (SUCCESS or FAILED).
    query_duration: float = 1.0
    #: Emulated seconds per real second between later scheduled runs (3600: an hour is a second).
    time_scale: float = 3600.0
    #: At most this many runs per flow and segment, so an accelerated clock cannot flood the disk.
    max_runs_per_flow: int = 5
    exports_dir: Path = field(default_factory=default_exports_dir)
    state_file: Path | None = None
    #: Audience CSV files are split after this many rows (AEP: 5 million).
    csv_split_rows: int = 5_000_000
    page_size: int = 20
    #: Requests whose body is larger than this get a 413 (gateway shape) and are not kept.
    max_body_bytes: int = MAX_BODY_BYTES
    faults: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
