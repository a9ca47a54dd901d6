"""The AEP health view inside the Airflow UI (Airflow 3.1+): see :mod:`.aep_health`."""
