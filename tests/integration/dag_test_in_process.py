"""Run the export DAG with ``dag.test()`` in this process; print the task states and the summary as JSON.

Started as a subprocess by test_deferral.py, with an Airflow environment pointing at the emulator.
"""

from __future__ import annotations

import json
import sys

from dags_examples.export_datasets import dag

run = dag.test(run_conf=json.loads(sys.argv[1]))
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print("DAG-TEST-RESULT " + json.dumps({"state": str(run.state), "tasks": states}))
