"""Everything behind the emulator's routes: its state, fault plan, Flow Service and run engine.

The routes reach it through one FastAPI dependency (:data:`aep_emulator.routes.common.AEP`);
tests that run the emulator in process reach it through :class:`aep_emulator.app.Emulator`.
"""

from __future__ import annotations

from typing import Any

from aep_emulator import credentials
from aep_emulator.config import EmulatorConfig
from aep_emulator.conversion import Conversion
from aep_emulator.faults import FaultPlan
from aep_emulator.run_actions import RunActions
from aep_emulator.runs import RunEngine
from aep_emulator.segmentation import Segmentation
from aep_emulator.service import FlowService
from aep_emulator.state import State


class Backend:
    """One emulated platform: its state, fault plan, Flow Service behaviour and run engine."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.state = State(config.state_file)
        self.faults = FaultPlan(config.faults)
        self.service = FlowService(config, self.state, self.faults)
        self.engine = RunEngine(config, self.state, self.faults)
        self.run_actions = RunActions(self.state, self.engine)
        #: Data Prep schemas and mapping sets (the columns of enhanced audience exports).
        self.conversion = Conversion(self.state)
        #: The Segmentation API (audiences, segment jobs) and ad-hoc activation.
        self.segmentation = Segmentation(config, self.state, self.faults, self.engine)

    def fingerprint(self, params: dict[str, Any]) -> str:
        """What this emulator's run records show for these auth params (for in-process tests);
        the key stays in memory, so no route answers this."""
        return credentials.fingerprint(params, self.state.fingerprint_key)
