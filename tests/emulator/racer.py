"""One racer of ``test_races.py``: its own OS process and AEPHook, in step with the other by a barrier.

Each round it sets up the same-named export pipeline (base connection, source connection,
target connection, dataflow) with ``if_exists="reuse"``, every create started at the same moment
as the other racer's, and reports the ids it ended with.
"""

from __future__ import annotations

import copy
import logging
import os
import traceback
from typing import Any


def bodies(round_: int) -> dict[str, Any]:
    from tests import seed_bodies as seed

    suffix = f" (race {round_})"
    base = copy.deepcopy(seed.BASE_CONNECTIONS["amazon_s3"])
    source = copy.deepcopy(seed.SOURCE_CONNECTION)
    base["name"] += suffix
    source["name"] += suffix
    return {"connections": base, "sourceConnections": source, "suffix": suffix}


def race(index: int, rounds: int, barrier: Any, results: Any, connection: str) -> None:
    os.environ["AIRFLOW_CONN_AEP_DEFAULT"] = connection
    try:
        from airflow_provider_aep.hooks.aep import AEPHook
        from airflow_provider_aep.hooks.retry import RetryPolicy
        from tests import seed_bodies as seed

        log = logging.getLogger(f"racer-{index}")
        hook = AEPHook(retry_policy=RetryPolicy(max_attempts=3, base_wait=0.05, max_wait=0.1))
        hook.list_connection_specs()  # the token first, so both racers start level
        for round_ in range(rounds):
            wanted = bodies(round_)
            ids: dict[str, str] = {}

            def create(kind: str, body: dict[str, Any], ids: dict[str, str] = ids) -> None:
                barrier.wait(timeout=60)
                ids[kind] = hook.create_once(kind, body, if_exists="reuse", state_store=None, log=log)["id"]

            create("connections", wanted["connections"])
            create("sourceConnections", wanted["sourceConnections"])
            target = seed.target_connection("amazon_s3", ids["connections"])
            target["name"] += wanted["suffix"]
            target["params"]["compression"] = "GZIP"
            create("targetConnections", target)
            flow = seed.dataflow("amazon_s3", ids["sourceConnections"], ids["targetConnections"])
            flow["name"] += wanted["suffix"]
            create("flows", flow)
            results.put((index, round_, ids))
    except BaseException:
        barrier.abort()
        results.put((index, -1, traceback.format_exc()))
