"""The ``aep`` connection form on Airflow 3.0 and 3.1, from the provider info's ``conn-fields``.

Airflow 3.2+ reads ``conn-fields`` and ``ui-field-behaviour`` from the provider info itself and
never asks the hook; the older releases ask the hook's ``get_connection_form_widgets`` and
``get_ui_field_behaviour``, which answer from the same provider info through this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_aep.utils.airflow_lacks import say_once


def connection_form_widgets(conn_fields: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Airflow 3.0/3.1's form for a connection's extra fields (WTForms fields, which their UI
    mocks when Flask-AppBuilder is not installed). Numbers become integer fields, everything
    else text fields."""
    say_once(
        "conn-fields",
        "the connection form's extra fields come from the hook's get_connection_form_widgets "
        "(Airflow 3.2+ reads the provider info's conn-fields instead)",
    )
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField

    widgets: dict[str, Any] = {}
    for name, field in conn_fields.items():
        schema = field.get("schema", {})
        types = schema.get("type", "string")
        types = {types} if isinstance(types, str) else set(types)
        kind = IntegerField if types & {"integer", "number"} else StringField
        widgets[name] = kind(
            lazy_gettext(field.get("label", name)),
            widget=BS3TextFieldWidget(),
            description=field.get("description", ""),
            default=schema.get("default"),
        )
    return widgets


def field_behaviour(behaviour: Mapping[str, Any]) -> dict[str, Any]:
    """The provider info's ``ui-field-behaviour`` as ``get_ui_field_behaviour`` returns it (3.0/3.1)."""
    return {key.replace("-", "_"): value for key, value in behaviour.items()}
