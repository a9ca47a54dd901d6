"""What the operators and the sensor share as Airflow tasks: the hook they build, parse-time
checks, the wait for a run, the teardown's rule.

It stands above the hook and below the operators and the sensor, which import each other never.
"""
