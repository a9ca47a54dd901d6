"""A run's credentials fingerprint compares credentials inside one emulator and nowhere else.

An unkeyed hash of the auth params beside their identifiers would let whoever reads the admin
route or the state file confirm a guessed password offline; the emulator keys it instead.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import RunningEmulator, running_emulator
from tests import seed_bodies as seed
from tests.emulator.conftest import Api
from tests.emulator.pipeline import make_pipeline

SENT = seed.BASE_CONNECTIONS["amazon_s3"]["auth"]["params"]


def fast_config(tmp_path: Any, **overrides: Any) -> EmulatorConfig:
    return EmulatorConfig(
        exports_dir=tmp_path / "out", first_run_delay=0.2, run_duration=0.3, time_scale=36000, **overrides
    )


def first_run_fingerprint(emulator: RunningEmulator) -> str:
    api = Api(emulator)
    run = api.wait_for_run(make_pipeline(api)["flow"])
    used = emulator.admin.get(f"/runs/{run['id']}/credentials").json()
    assert used["identifiers"] == {"s3AccessKey": seed.S3_ACCESS_KEY}
    return str(used["fingerprint"])


def unkeyed_digests(params: dict[str, Any]) -> set[str]:
    """Every plain hash someone could compute offline from a guess: of the params or the secret."""
    texts = [
        json.dumps(params, sort_keys=True, separators=(",", ":")),
        json.dumps(params, sort_keys=True),
        json.dumps(params),
        params["s3SecretKey"],
        params["s3AccessKey"] + params["s3SecretKey"],
    ]
    return {
        hashlib.new(name, text.encode()).hexdigest()
        for text in texts
        for name in ("md5", "sha1", "sha256", "sha512", "blake2b", "sha3_256")
    }


def test_the_same_secret_has_another_fingerprint_in_another_emulator(emu, tmp_path):
    here = first_run_fingerprint(emu)
    with running_emulator(fast_config(tmp_path)) as other:
        there = first_run_fingerprint(other)
        assert there == other.fingerprint(SENT)
    assert here == emu.fingerprint(SENT)
    assert here != there
    assert len(here) == 64


def test_the_fingerprint_is_no_unkeyed_hash_of_the_params_or_the_secret(emu):
    fingerprint = first_run_fingerprint(emu)
    assert fingerprint not in unkeyed_digests(SENT)


def test_within_one_emulator_equal_credentials_have_equal_fingerprints(emu):
    first = first_run_fingerprint(emu)
    second = first_run_fingerprint(emu)  # another pipeline, the same credentials
    assert first == second == emu.fingerprint(SENT)
    assert emu.fingerprint({**SENT, "s3SecretKey": SENT["s3SecretKey"] + "x"}) != first


def test_the_state_file_and_the_admin_routes_hold_no_unkeyed_hash(tmp_path):
    state_file = tmp_path / "state.json"
    with running_emulator(fast_config(tmp_path, state_file=state_file)) as emulator:
        fingerprint = first_run_fingerprint(emulator)
        shown = json.dumps(emulator.admin.get("/state").json()) + json.dumps(emulator.requests())
        key = emulator.emulator.state.fingerprint_key
    saved = state_file.read_text()
    assert fingerprint in saved  # the keyed fingerprint is kept with the run ...
    for digest in unkeyed_digests(SENT):  # ... and no plain hash anywhere
        assert digest not in saved
        assert digest not in shown
    for text in (saved, shown):
        assert key.hex() not in text
        assert SENT["s3SecretKey"] not in text
