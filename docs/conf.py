"""Sphinx settings: the API reference comes from the provider's docstrings (autodoc, reST field
lists); the notes and the changelog are Markdown (MyST). Built with ``-W``: a warning fails."""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

# Importing the operators imports Airflow, whose start-up may warn about its own deprecations.
# They say nothing about this package's documentation, so they are silenced here (never by
# relaxing -W). Airflow's settings go to a scratch home, so a build never writes ~/airflow.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", module=r"airflow(\.|$)")
os.environ.setdefault("AIRFLOW_HOME", str(DOCS / "_build" / "airflow-home"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_aep import __version__  # noqa: E402

project = "airflow-provider-aep"
author = "airflow-provider-aep maintainers"
copyright = "airflow-provider-aep maintainers"
version = release = __version__

extensions = ["sphinx.ext.autodoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Every Python cross-reference must resolve. Names from outside the package (Airflow, requests,
# httpx, the standard library) have no page here to link to, and are shown as text.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(airflow|requests|httpx|fastapi|starlette|logging|datetime|collections)\..*"),
    (
        r"py:class",
        r"Context|TaskInstanceKey|BaseOperator|PokeReturnValue|Session|Logger|datetime|date|timedelta|.*\.Kept",
    ),
]
#: Pages written by other steps of the project: the index lists each one once it exists, so a
#: page not written yet is no broken toctree. (A glob that matches nothing warns, and that
#: warning cannot be suppressed.)
OPTIONAL_PAGES = ("spec-names",)

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True


def _skip(app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    """A module page lists its classes, and a class its methods and instance attributes: helpers
    and class-level settings (``template_fields``, ``entity_name``, ...) are not the API."""
    if what == "module" and not isinstance(obj, type):
        return True
    if what in ("class", "exception") and isinstance(obj, (str, int, float, tuple, list, dict, frozenset)):
        return True
    return None


def _drop_missing_pages(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname == root_doc:
        for page in OPTIONAL_PAGES:
            if not any((DOCS / f"{page}{suffix}").exists() for suffix in source_suffix):
                source[0] = re.sub(rf"^[ \t]+{re.escape(page)}[ \t]*\n", "", source[0], flags=re.MULTILINE)


def _reread_index(app: Sphinx, env: Any, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """The index depends on which optional pages exist: read it again on every build."""
    return [root_doc]


def setup(app: Sphinx) -> None:
    app.connect("autodoc-skip-member", _skip)
    app.connect("source-read", _drop_missing_pages)
    app.connect("env-get-outdated", _reread_index)


myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"airflow-provider-aep {release}"
html_theme_options = {
    "description": "Adobe Experience Platform for Apache Airflow 3",
    "fixed_sidebar": True,
}
