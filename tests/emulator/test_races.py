"""Two DAG runs on two workers set up the same-named pipeline at the same moment: they converge.

Two OS processes, each with its own AEPHook, are released together by a barrier before every
create; the emulator delays each POST so both pass the "look first" step before either create
lands. Both must end with the same ids, and the emulator with exactly one entity of each name.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections import Counter
from typing import Any

from tests.emulator.racer import race

ROUNDS = 3
KINDS = ("connections", "sourceConnections", "targetConnections", "flows")
FS = "/data/foundation/flowservice"


def _run_racers(emu) -> dict[int, list[dict[str, str]]]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    racers = [ctx.Process(target=race, args=(i, ROUNDS, barrier, results, emu.connection())) for i in (0, 1)]
    for racer in racers:
        racer.start()
    found: dict[int, list[dict[str, str]]] = {0: [], 1: []}
    try:
        for _ in range(2 * ROUNDS):
            index, round_, ids = results.get(timeout=120)
            assert round_ >= 0, f"racer {index} failed:\n{ids}"
            found[index].append(ids)
    except queue.Empty:
        raise AssertionError("the racers did not finish within two minutes") from None
    finally:
        for racer in racers:
            racer.join(timeout=10)
            if racer.is_alive():
                racer.terminate()
                racer.join(timeout=5)
    return found


def test_two_runs_creating_the_same_pipeline_at_once_end_with_one_of_each(emu):
    # Every create is slow to land: both racers look, see nothing, and create.
    emu.add_fault(method="POST", path=f"{FS}/*", latency=0.5, times=2 * len(KINDS) * ROUNDS)
    found = _run_racers(emu)

    assert found[0] == found[1], "both racers must go on with the same ids"
    log = emu.requests()
    for round_, ids in enumerate(found[0]):
        for kind in KINDS:
            name = next(e["name"] for e in emu.entities(kind).values() if e["id"] == ids[kind])
            assert name.endswith(f" (race {round_})")
            assert [e["id"] for e in emu.entities(kind).values() if e["name"] == name] == [ids[kind]]
            posts = [
                r for r in log if r["method"] == "POST" and r["path"] == f"{FS}/{kind}" and _named(r, name)
            ]
            assert len(posts) == 2, f"both racers created the {kind} (a real race)"
            deletes = Counter(r["path"].rsplit("/", 2)[-2] for r in log if r["method"] == "DELETE")
            assert deletes[kind] == ROUNDS  # each round, the loser deleted its own


def _named(record: dict[str, Any], name: str) -> bool:
    return isinstance(record.get("body"), dict) and record["body"].get("name") == name
