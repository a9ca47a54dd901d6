"""The stack the browser looks at listens on loopback only (last: every service is up by now)."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.ui


def test_every_server_listens_on_loopback_only(stack, ui_emulator):
    found = stack.assert_loopback_only({"emulator (this process)": os.getpid()}, [ui_emulator.config.port])
    assert {listener.owner for listener in found} >= {"api-server", "emulator (this process)"}
