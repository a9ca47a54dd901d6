"""Build a whole dataset-export pipeline in the emulator with the tutorial's bodies."""

from __future__ import annotations

import copy
from typing import Any

from tests import seed_bodies as seed
from tests.emulator.conftest import Api


def make_pipeline(api: Api, key: str = "amazon_s3", **target_params: Any) -> dict[str, str]:
    source = api.ok("POST", "/sourceConnections", 201, json=seed.SOURCE_CONNECTION)["id"]
    base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS[key])["id"]
    target_body = seed.target_connection(key, base)
    target_body["params"]["compression"] = "GZIP"
    target_body["params"].update(target_params)
    target = api.ok("POST", "/targetConnections", 201, json=target_body)["id"]
    flow_body = copy.deepcopy(seed.dataflow(key, source, target))
    flow_body["scheduleParams"].pop("foldernameTemplate")
    flow = api.ok("POST", "/flows", 201, json=flow_body)["id"]
    return {"source": source, "base": base, "target": target, "flow": flow}
