"""Every public operator, sensor, trigger, hook and extra link documents its parameters.

The API reference (``docs/api/``) is built from these docstrings, so a parameter without a
``:param name:`` entry is a parameter a user cannot read about. Inherited parameters may be
documented once in a base class, when the subclass's docstring names that base.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import airflow_provider_aep
from airflow_provider_aep import links, operators, sensors, triggers
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.aep_async import AEPAsyncHook
from airflow_provider_aep.hooks.async_client import AsyncAEPClient

PACKAGE = airflow_provider_aep.__name__
API_DOCS = Path(__file__).resolve().parents[2] / "docs" / "api"
#: Called by Airflow (or by ``execute``) with Airflow's own arguments; Airflow documents them.
CALLBACKS = frozenset({"execute", "poke", "execute_complete", "serialize", "run"})
PARAM = re.compile(r"^\s*:param\s+(?:[^:\n]*\s)?(\*{0,2}\w+)\s*:", re.MULTILINE)
RETURN = re.compile(r"^\s*:returns?:", re.MULTILINE)


def _modules(package: ModuleType) -> Iterator[ModuleType]:
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        yield importlib.import_module(info.name)


def public_classes() -> list[type]:
    """The classes users meet: every class defined in operators/, sensors/, triggers/ and
    links.py, plus the hooks and the trigger's async client."""
    modules = [m for package in (operators, sensors, triggers) for m in _modules(package)] + [links]
    found = [
        cls
        for module in modules
        for name, cls in vars(module).items()
        if isinstance(cls, type) and cls.__module__ == module.__name__ and not name.startswith("_")
    ]
    return sorted([*found, AEPHook, AEPAsyncHook, AsyncAEPClient], key=lambda cls: cls.__qualname__)


def _ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] == PACKAGE


def documented_params(doc: str | None) -> set[str]:
    return {name.lstrip("*") for name in PARAM.findall(doc or "")}


def _parameters(function: Callable[..., Any]) -> tuple[list[str], bool]:
    """The named parameters (no self/cls), and whether it passes ``**kwargs`` on."""
    params = list(inspect.signature(function).parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    named = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def init_params(cls: type) -> list[str]:
    """What ``cls(...)`` takes from this package: its ``__init__``, and those of the package's base
    classes it hands ``**kwargs`` to (Airflow's own, such as ``task_id``, are Airflow's to document)."""
    wanted: list[str] = []
    for klass in cls.__mro__:
        if not _ours(klass) or "__init__" not in vars(klass):
            continue
        named, passes_on = _parameters(vars(klass)["__init__"])
        wanted += [n for n in named if n not in wanted]
        if not passes_on:
            break
    return wanted


def class_documents(cls: type) -> set[str]:
    """Parameters the class docstring documents, and those of each package base it names."""
    doc = vars(cls).get("__doc__") or ""
    found = documented_params(doc)
    for base in cls.__bases__:
        if _ours(base) and re.search(rf"\b{re.escape(base.__name__)}\b", doc):
            found |= class_documents(base)
    return found


def public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    """Methods defined in the class body that users call (not properties, dunders or callbacks)."""
    methods = {}
    for name, member in vars(cls).items():
        if name.startswith("_") or name in CALLBACKS:
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member):
            methods[name] = member
    return methods


def _returns_something(function: Callable[..., Any]) -> bool:
    annotation = inspect.signature(function).return_annotation
    return annotation not in (inspect.Signature.empty, None, "None", "NoReturn")


def undocumented(cls: type) -> list[str]:
    """One line per missing entry: ``Class: param`` for the constructor, ``Class.method: ...``."""
    problems = []
    if not (vars(cls).get("__doc__") or "").strip():
        problems.append(f"{cls.__qualname__}: no docstring")
    known = class_documents(cls)
    problems += [f"{cls.__qualname__}: no ':param {name}:'" for name in init_params(cls) if name not in known]
    for name, method in public_methods(cls).items():
        doc = method.__doc__ or ""
        where = f"{cls.__qualname__}.{name}"
        if not doc.strip():
            problems.append(f"{where}: no docstring")
        params, _ = _parameters(method)
        problems += [f"{where}: no ':param {p}:'" for p in params if p not in documented_params(doc)]
        if _returns_something(method) and not RETURN.search(doc):
            problems.append(f"{where}: no ':return:'")
    return problems


CLASSES = public_classes()


def test_the_classes_users_meet_are_all_checked():
    names = {cls.__name__ for cls in CLASSES}
    assert {
        "AEPCreateBaseConnectionOperator",
        "AEPCreateDataflowOperator",
        "AEPListDatasetsOperator",
        "AEPDataflowRunSensor",
        "AEPDataflowRunTrigger",
        "AEPHook",
        "AEPAsyncHook",
        "AsyncAEPClient",
        "AEPDataflowLink",
        "AEPBaseOperator",
    } <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_parameter_is_documented(cls):
    assert undocumented(cls) == []


def test_the_api_reference_has_a_page_for_each_module_of_these_classes():
    """automodule lists a module's classes, so a new class shows up; a new module must be added."""
    pages = "\n".join(path.read_text() for path in API_DOCS.glob("*.rst"))
    documented = set(
        re.findall(r"^\.\. auto(?:module|class|exception):: ([\w.]+?)(?:\.[A-Z]\w*)?$", pages, re.M)
    )
    modules = {cls.__module__ for cls in CLASSES}
    assert sorted(modules - documented) == []


# -- the check itself fails on what it must catch ------------------------------------------------


class _Base:
    """A base.

    :param shared: documented once, here.
    """

    def __init__(self, *, shared: str = "", **kwargs: Any) -> None:
        self.shared = shared


class _Documented(_Base):
    """Takes a name. The rest: see _Base.

    :param name: what it is called.
    """

    def __init__(self, *, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name

    def fetch(self, entity_id: str, *, missing_ok: bool = False) -> dict[str, Any]:
        """Read one.

        :param entity_id: which.
        :param missing_ok: None instead of an error when it is gone.
        :return: the entity.
        """
        return {}

    def close(self) -> None:
        """Nothing to return, so no ``:return:``."""


class _Undocumented(_Base):
    """Takes a name and a size, but says only one of them, and not where ``shared`` is.

    :param name: what it is called.
    """

    def __init__(self, *, name: str, size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name, self.size = name, size

    def fetch(self, entity_id: str, missing_ok: bool = False) -> dict[str, Any]:
        """Read one.

        :param entity_id: which.
        """
        return {}

    def count(self) -> int:
        return 0


@pytest.fixture
def as_ours(monkeypatch):
    """The test classes count as the package's own, as the checked classes do."""
    for cls in (_Base, _Documented, _Undocumented):
        monkeypatch.setattr(cls, "__module__", f"{PACKAGE}.example")


@pytest.mark.usefixtures("as_ours")
def test_the_check_passes_a_class_whose_base_documents_the_rest():
    assert init_params(_Documented) == ["name", "shared"]
    assert undocumented(_Documented) == []


@pytest.mark.usefixtures("as_ours")
def test_the_check_names_each_missing_entry():
    assert undocumented(_Undocumented) == [
        "_Undocumented: no ':param size:'",
        "_Undocumented: no ':param shared:'",
        "_Undocumented.fetch: no ':param missing_ok:'",
        "_Undocumented.fetch: no ':return:'",
        "_Undocumented.count: no docstring",
        "_Undocumented.count: no ':return:'",
    ]


def test_the_check_reads_typed_and_plain_param_entries():
    doc = ":param str name: typed.\n    :param size: plain.\n:returns: x\n:parameter other: not a param."
    assert documented_params(doc) == {"name", "size"}
    assert RETURN.search(doc)
