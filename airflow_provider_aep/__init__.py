"""Apache Airflow provider for Adobe Experience Platform (AEP) Flow Service.

Kept empty of imports on purpose: Airflow parses DAG files every few seconds, and importing the
operators must not pull in HTTP clients, FastAPI or JSON Schema machinery.
"""

__version__ = "0.1.0"
