"""Everything behind the emulator's routes: its state, fault plan, Flow Service and run engine.

The routes reach it through one FastAPI dependency (:data:`aep_emulator.routes.common.AEP`);
tests that run the emulator in process reach it through :class:`aep_emulator.app.Emulator`.
"""

from __future__ import annotations

from typing import Any

from aep_emulator import credentials
from aep_emulator.catalog_service import Catalog
from aep_emulator.config import EmulatorConfig
from aep_emulator.conversion import Conversion
from aep_emulator.faults import FaultPlan
from aep_emulator.lake import DataLake
from aep_emulator.query_service import QueryService
from aep_emulator.run_actions import RunActions
from aep_emulator.runs import RunEngine
from aep_emulator.schedules import Schedules
from aep_emulator.segmentation import Segmentation
from aep_emulator.service import FlowService
from aep_emulator.state import State


class Backend:
    """One emulated platform: its state, fault plan, Flow Service behaviour and run engine."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.state = State(config.state_file)
        self.faults = FaultPlan(config.faults)
        #: The data lake: seed datasets, and the derived ones queries make (per sandbox).
        self.lake = DataLake(self.state)
        self.service = FlowService(config, self.state, self.faults, self.lake)
        self.engine = RunEngine(config, self.state, self.faults, self.lake)
        self.run_actions = RunActions(self.state, self.engine)
        #: Data Prep schemas and mapping sets (the columns of enhanced audience exports).
        self.conversion = Conversion(self.state)
        #: The Segmentation API (audiences, segment jobs) and ad-hoc activation.
        self.segmentation = Segmentation(config, self.state, self.faults, self.engine)
        #: The Query Service (queries over DuckDB, scheduled queries) and Catalog lookups.
        self.queries = QueryService(config, self.state, self.faults, self.lake)
        self.schedules = Schedules(config, self.state, self.queries)
        self.catalog = Catalog(config.org_id, self.state, self.lake)

    def fingerprint(self, params: dict[str, Any]) -> str:
        """What this emulator's run records show for these auth params (for in-process tests);
        the key stays in memory, so no route answers this."""
        return credentials.fingerprint(params, self.state.fingerprint_key)
