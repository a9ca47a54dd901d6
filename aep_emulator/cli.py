"""``aep-emulator``: a local AEP (IMS + Flow Service) for demos, tests and offline DAG work.

Once it listens it prints, as ``export AIRFLOW_CONN_...='...'`` lines a shell can source, every
Airflow connection a DAG needs against it: ``aep_default`` and each destination's demo
credentials (``aep_<destination>_credentials``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aep_emulator.airflow_connections import airflow_connections, shell_exports
from aep_emulator.config import KEEP_ALIVE_SECONDS, EmulatorConfig

if TYPE_CHECKING:
    import uvicorn


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default, except where there is none (a flag, no file)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """Every option with its help and, through the formatter, its default."""
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(
        prog="aep-emulator",
        description=__doc__,
        formatter_class=DefaultsHelp,
    )
    parser.add_argument("--host", default=defaults.host, help="the address to listen on")
    parser.add_argument("--port", type=int, default=defaults.port, help="the port to listen on")
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
        "--query-duration",
        type=float,
        default=defaults.query_duration,
        help="real seconds a Query Service query takes",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=defaults.time_scale,
        help="emulated seconds per real second between scheduled runs",
    )
    parser.add_argument(
        "--max-runs-per-flow",
        type=int,
        default=defaults.max_runs_per_flow,
        help="runs kept per flow and segment, so the fast clock cannot fill the disk",
    )
    parser.add_argument(
        "--csv-split-rows",
        type=int,
        default=defaults.csv_split_rows,
        help="rows per audience CSV file before it is split",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=defaults.max_body_bytes,
        help="larger request bodies get a 413, as AEP's gateway answers",
    )
    parser.add_argument(
        "--exports-dir",
        type=Path,
        default=defaults.exports_dir,
        help="where exported files are written",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        metavar="FILE",
        help="keep state in this JSON file across restarts",
    )
    parser.add_argument(
        "--faults", type=Path, default=None, metavar="FILE", help='a JSON fault plan: {"rules": [...]}'
    )
    parser.add_argument(
        "--write-env",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the connection lines to FILE (mode 600) once the emulator listens",
    )
    parser.add_argument(
        "--print-connections",
        action="store_true",
        help="print the connection lines for these options and exit, without starting",
    )
    return parser


def parse_command(argv: list[str] | None = None) -> tuple[EmulatorConfig, argparse.Namespace]:
    """The emulator's settings, and the options that say what to do with them."""
    parser = build_parser()
    args = parser.parse_args(argv)
    faults = fault_rules(args.faults, parser) if args.faults else []
    if args.write_env is not None and (args.write_env.is_dir() or not args.write_env.parent.is_dir()):
        parser.error(f"--write-env {args.write_env}: not a file in an existing directory")
    config = EmulatorConfig(
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        org_id=args.org_id,
        token_lifetime=args.token_lifetime,
        first_run_delay=args.first_run_delay,
        run_duration=args.run_duration,
        query_duration=args.query_duration,
        time_scale=args.time_scale,
        max_runs_per_flow=args.max_runs_per_flow,
        csv_split_rows=args.csv_split_rows,
        max_body_bytes=args.max_body_bytes,
        exports_dir=args.exports_dir,
        state_file=args.state,
        faults=faults,
    )
    return config, args


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    return parse_command(argv)[0]


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


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner alone, whole or not at all (a script waiting for the
    file never reads half of it)."""
    path = path.resolve()
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def announcer(config: EmulatorConfig, env_file: Path | None) -> Callable[[], None]:
    """What to do once the emulator listens: tell where it is, and print (and write) the lines."""
    lines = shell_exports(airflow_connections(config))

    def announce() -> None:
        if env_file is not None:
            write_private(env_file, lines)
        print(f"AEP emulator on {config.url}; exports in {config.exports_dir}", file=sys.stderr)
        print("Point Airflow at it (AEP and every destination's demo credentials):", file=sys.stderr)
        if env_file is not None:
            print(f"  . {env_file}", file=sys.stderr)
        print(lines, end="", flush=True)

    return announce


def server(app: Any, config: EmulatorConfig, on_started: Callable[[], None]) -> uvicorn.Server:
    """A uvicorn server that calls ``on_started`` once it listens (never if it cannot bind)."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                on_started()

    return AnnouncingServer(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )


def main(argv: list[str] | None = None) -> None:
    from aep_emulator.app import Emulator
    from aep_emulator.state_file import StateFileError

    config, args = parse_command(argv)
    if args.print_connections:
        print(shell_exports(airflow_connections(config)), end="")
        return
    if args.write_env is not None:
        args.write_env.unlink(missing_ok=True)  # a stale file must not pass for this emulator's
    try:
        emulator = Emulator(config)
    except StateFileError as err:
        sys.exit(f"aep-emulator: not started: {err}")
    running = server(emulator.app, config, announcer(config, args.write_env))
    running.run()
    if not running.started:
        sys.exit(f"aep-emulator: could not listen on {config.url}")


if __name__ == "__main__":
    main()
