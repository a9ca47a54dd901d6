"""``aep-emulator``: a local AEP (IMS + Flow Service) for demos, tests and offline DAG work."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aep_emulator.config import EmulatorConfig


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(prog="aep-emulator", description=__doc__)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--client-id", default=defaults.client_id, help="the demo OAuth client id")
    parser.add_argument(
        "--client-secret", default=defaults.client_secret, help="the demo OAuth client secret"
    )
    parser.add_argument("--org-id", default=defaults.org_id, help="the IMS org every request must name")
    parser.add_argument(
        "--token-lifetime", type=int, default=defaults.token_lifetime, help="expires_in of tokens, seconds"
    )
    parser.add_argument(
        "--first-run-delay",
        type=float,
        default=defaults.first_run_delay,
        help="real seconds from creating a flow to its first run",
    )
    parser.add_argument(
        "--run-duration", type=float, default=defaults.run_duration, help="real seconds a run takes"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=defaults.time_scale,
        help="emulated seconds per real second between scheduled runs",
    )
    parser.add_argument("--max-runs-per-flow", type=int, default=defaults.max_runs_per_flow)
    parser.add_argument("--csv-split-rows", type=int, default=defaults.csv_split_rows)
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=defaults.max_body_bytes,
        help="larger request bodies get a 413, as AEP's gateway answers",
    )
    parser.add_argument(
        "--exports-dir", type=Path, default=defaults.exports_dir, help="where exported files are written"
    )
    parser.add_argument(
        "--state", type=Path, default=None, help="keep state in this JSON file across restarts"
    )
    parser.add_argument("--faults", type=Path, default=None, help='a JSON fault plan: {"rules": [...]}')
    args = parser.parse_args(argv)
    faults = fault_rules(args.faults, parser) if args.faults else []
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        org_id=args.org_id,
        token_lifetime=args.token_lifetime,
        first_run_delay=args.first_run_delay,
        run_duration=args.run_duration,
        time_scale=args.time_scale,
        max_runs_per_flow=args.max_runs_per_flow,
        csv_split_rows=args.csv_split_rows,
        max_body_bytes=args.max_body_bytes,
        exports_dir=args.exports_dir,
        state_file=args.state,
        faults=faults,
    )


def fault_rules(path: Path, parser: argparse.ArgumentParser) -> list[dict[str, Any]]:
    """The rules of a ``--faults`` file, or a usage error naming the file (exit 2) before start."""
    from aep_emulator.faults import FaultPlan

    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
        rules = plan["rules"] if isinstance(plan, dict) else None
        if not isinstance(rules, list):
            raise ValueError('it must be a JSON object {"rules": [...]}')
        FaultPlan(rules)  # each rule understood, or TypeError/ValueError
    except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
        parser.error(f"--faults {path}: {err}")
    return rules


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from aep_emulator.app import Emulator
    from aep_emulator.server import airflow_connection
    from aep_emulator.state_file import StateFileError

    config = parse_args(argv)
    try:
        emulator = Emulator(config)
    except StateFileError as err:
        sys.exit(f"aep-emulator: not started: {err}")
    print("AEP emulator on", config.url, file=sys.stderr)
    print("Point Airflow at it with:", file=sys.stderr)
    print(f"export AIRFLOW_CONN_AEP_DEFAULT='{airflow_connection(config)}'", flush=True)
    uvicorn.run(emulator.app, host=config.host, port=config.port, log_level="warning")


if __name__ == "__main__":
    main()
