#!/usr/bin/env bash
# The quickstart (docs/quickstart.rst) in one script: a venv, an Airflow home, the emulator and
# its connections, your DAG, and `airflow dags test`. Run it from anywhere: it writes only below
# $QUICKSTART (default ~/aep-quickstart) and in the emulator's exports directory.
# tests/integration/test_quickstart.py runs it as it is, with the project's venv as $VENV.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)  # the clone this script is part of
QUICKSTART=${QUICKSTART:-$HOME/aep-quickstart}
VENV=${VENV:-$QUICKSTART/venv}
PORT=${PORT:-8765}
mkdir -p "$QUICKSTART"

# [install]
if [ ! -x "$VENV/bin/aep-emulator" ]; then
    python3.11 -m venv "$VENV"
    "$VENV/bin/pip" install --constraint "$REPO/constraints/airflow-3.3.txt" "$REPO/aep_emulator" "$REPO[emulator]"
fi
. "$VENV/bin/activate"
# [/install]

# [airflow-home]
export AIRFLOW_HOME="$QUICKSTART/airflow"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
mkdir -p "$AIRFLOW_HOME/dags"
airflow db migrate
# [/airflow-home]

# [emulator]
rm -f "$QUICKSTART/aep-emulator.env"
aep-emulator --port "$PORT" --write-env "$QUICKSTART/aep-emulator.env" >"$QUICKSTART/aep-emulator.log" 2>&1 &
EMULATOR=$!
trap 'kill "$EMULATOR"' EXIT
until [ -s "$QUICKSTART/aep-emulator.env" ]; do  # written once the emulator listens
    kill -0 "$EMULATOR" 2>/dev/null || { cat "$QUICKSTART/aep-emulator.log" >&2; exit 1; }
    sleep 0.2
done
. "$QUICKSTART/aep-emulator.env"
# [/emulator]

# [dag]
cp "$REPO/docs/quickstart/my_aep_export.py" "$AIRFLOW_HOME/dags/"
# [/dag]

# [run]
airflow dags test my_aep_export
# [/run]
