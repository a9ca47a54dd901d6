"""The Airflow plugin: an "AEP health" page in the navigation and an "AEP" tab on task instances.

Airflow 3.1+ shows a plugin's ``external_views`` in its UI (in a same-origin frame) and mounts its
``fastapi_apps`` in the api-server. Airflow 3.0 has neither UI hook, so there the plugin is
empty. The app is built on its first request, not when Airflow loads plugins: the scheduler,
workers and dag-processor load plugins too, and never pay for FastAPI and the templates.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowPlugin

from airflow_provider_aep.version_compat import AIRFLOW_V_3_1_PLUS

#: Where the api-server mounts the app.
URL_PREFIX = "/aep"


class LazyHealthApp:
    """An ASGI app that builds :func:`airflow_provider_aep.plugins.app.create_app` on first use."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from airflow_provider_aep.plugins.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


def _fastapi_apps() -> list[dict[str, Any]]:
    if not AIRFLOW_V_3_1_PLUS:
        return []
    return [{"app": LazyHealthApp(), "url_prefix": URL_PREFIX, "name": "AEP health"}]


def _external_views() -> list[dict[str, Any]]:
    if not AIRFLOW_V_3_1_PLUS:
        return []
    task = "dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}&map_index={MAP_INDEX}"
    return [
        {
            "name": "AEP health",
            "href": f"{URL_PREFIX.lstrip('/')}/health",
            "destination": "nav",
            "category": "browse",
            "url_route": "aep-health",
        },
        {
            "name": "AEP",
            # The UI resolves a task tab's href against the task's own page: only an absolute
            # path reaches the app (the navigation's page is resolved against Airflow's root).
            "href": f"{URL_PREFIX}/task?{task}",
            "destination": "task_instance",
            "url_route": "aep-task",
        },
    ]


class AEPHealthPlugin(AirflowPlugin):
    """AEP's dataflows and runs, read-only, for users Airflow's auth manager lets read them."""

    name = "aep_health"
    fastapi_apps = _fastapi_apps()
    external_views = _external_views()
