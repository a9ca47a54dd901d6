"""The packages as a user gets them: `make dist` builds the sdists and the wheels of the provider
and of the emulator (its own distribution) and checks them (twine); the provider's hold the
provider only, both carry the license, the README names only files the sdist ships; the
provider's wheel, installed (not editable) into a clean venv with Airflow, is a provider Airflow
finds, with its `aep` connection type and its hook; the emulator's wheel, installed alone into a
clean venv, serves AEP without Airflow or the provider. No mocks: the real build, uv, Airflow's
ProvidersManager and the emulator over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import airflow
import pytest

from airflow_provider_aep import __version__

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DIST_INFO = f"airflow_provider_aep-{__version__}.dist-info"
SDIST_ROOT = f"airflow_provider_aep-{__version__}"
EMULATOR_DIST_INFO = f"aep_emulator-{__version__}.dist-info"
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)

#: Run with the clean venv's Python: what Airflow, and only the installed wheel, say.
PROBE = """
import importlib, importlib.metadata as md, json
from airflow.providers_manager import ProvidersManager
import airflow_provider_aep

dist = md.distribution("airflow-provider-aep")
info = md.entry_points(group="apache_airflow_provider", name="provider_info")
manager = ProvidersManager()
provider = manager.providers.get("airflow-provider-aep")
hook = manager.hooks.get("aep")
module, _, name = hook.hook_class_name.rpartition(".") if hook else ("", "", "")
hook_class = getattr(importlib.import_module(module), name) if hook else None
listed = provider.data if provider else {}
modules = [m for kind in ("hooks", "operators", "sensors", "triggers") for e in listed.get(kind, []) for m in e["python-modules"]]
for m in modules:
    importlib.import_module(m)
licenses = [f for f in dist.files or [] if f.name == "LICENSE"]
print(json.dumps({
    "module_file": airflow_provider_aep.__file__,
    "direct_url": json.loads(dist.read_text("direct_url.json") or "{}"),
    "entry_points": [ep.value for ep in info if ep.dist and ep.dist.name == "airflow-provider-aep"],
    "provider_version": provider.version if provider else None,
    "hook_class_name": hook.hook_class_name if hook else None,
    "hook_connection_type": hook.connection_type if hook else None,
    "hook_class_conn_type": getattr(hook_class, "conn_type", None),
    "imported_modules": modules,
    "extra_links": sorted(manager.extra_links_class_names),
    "license_paths": [str(f) for f in licenses],
    "license_text": licenses[0].read_text() if licenses else None,
}))
"""


#: Run with the emulator's clean venv: the emulator alone serves IMS and the Flow Service.
EMULATOR_PROBE = """
import importlib.metadata as md, importlib.util, json
from pathlib import Path
import httpx
import aep_emulator
from aep_emulator.config import EmulatorConfig
from aep_emulator.server import running_emulator

config = EmulatorConfig()
with running_emulator(exports_dir=Path("exports")) as emulator:
    form = {"grant_type": "client_credentials", "client_id": config.client_id,
            "client_secret": config.client_secret, "scope": "openid"}
    token = httpx.post(f"{emulator.url}/ims/token/v3", data=form).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "x-api-key": config.client_id,
               "x-gw-ims-org-id": config.org_id, "x-sandbox-name": "prod"}
    specs = httpx.get(f"{emulator.url}/data/foundation/flowservice/connectionSpecs", headers=headers)
dist = md.distribution("aep-emulator")
print(json.dumps({
    "module_file": aep_emulator.__file__,
    "direct_url": json.loads(dist.read_text("direct_url.json") or "{}"),
    "version": aep_emulator.__version__,
    "airflow": importlib.util.find_spec("airflow") is not None,
    "provider": importlib.util.find_spec("airflow_provider_aep") is not None,
    "specs_status": specs.status_code,
    "spec_names": sorted(s["name"] for s in specs.json()["items"]),
    "license_paths": [str(f) for f in dist.files or [] if f.name == "LICENSE"],
}))
"""


def run(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """`make dist` into a scratch folder; `-o` keeps make from reinstalling the venv here."""
    out = tmp_path_factory.mktemp("dist")
    wide = {**os.environ, "COLUMNS": "500"}  # twine (rich) wraps its verdicts at the terminal width
    built = run(
        "make", "--no-print-directory", "-o", ".venv/.installed", "dist", f"DIST={out}", cwd=ROOT, env=wide
    )
    verdicts = re.sub(r"\x1b\[[0-9;]*m", "", built.stdout)  # and colours them
    passed = re.findall(r"Checking\s+(\S+?)\s*:\s*PASSED", verdicts)
    assert sorted(Path(name).name for name in passed) == [
        f"aep_emulator-{__version__}-py3-none-any.whl",
        f"aep_emulator-{__version__}.tar.gz",
        f"airflow_provider_aep-{__version__}-py3-none-any.whl",
        f"airflow_provider_aep-{__version__}.tar.gz",
    ], verdicts
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (path,) = dist.glob("airflow_provider_aep-*.whl")
    return path


@pytest.fixture(scope="module")
def sdist(dist: Path) -> Path:
    (path,) = dist.glob("airflow_provider_aep-*.tar.gz")
    return path


@pytest.fixture(scope="module")
def emulator_wheel(dist: Path) -> Path:
    (path,) = dist.glob("aep_emulator-*.whl")
    return path


def clean_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A new venv, and pins to this venv's own versions (the uv cache has them: a quick install)."""
    venv = tmp_path / "venv"
    run(BIN / "uv", "venv", "--quiet", "--python", sys.executable, venv)
    frozen = run(BIN / "uv", "pip", "freeze", "--exclude-editable", "--python", sys.executable).stdout
    pins = tmp_path / "pins.txt"
    pins.write_text(
        "\n".join(
            line
            for line in frozen.splitlines()
            if not line.startswith(("airflow-provider-aep", "aep-emulator"))
        )
    )
    return venv, pins


def clean_env(venv: Path, **extra: str) -> dict[str, str]:
    """Nothing of this run's environment may point a probe back at the checkout or its venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    return env | extra


def sdist_files(sdist: Path) -> dict[str, bytes]:
    with tarfile.open(sdist) as tar:
        return {
            member.name.removeprefix(f"{SDIST_ROOT}/"): tar.extractfile(member).read()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile()
        }


def test_the_wheel_and_the_sdist_carry_the_license(wheel: Path, sdist: Path):
    license_text = (ROOT / "LICENSE").read_bytes()
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(f"{DIST_INFO}/licenses/LICENSE") == license_text
        metadata = archive.read(f"{DIST_INFO}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    assert "Project-URL: Source, " in metadata
    assert "Project-URL: Issues, " in metadata
    files = sdist_files(sdist)
    assert files["LICENSE"] == license_text
    assert "License-File: LICENSE" in files["PKG-INFO"].decode()


def test_the_provider_wheel_and_sdist_hold_the_provider_only(wheel: Path, sdist: Path):
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    assert tops == {"airflow_provider_aep", DIST_INFO}
    packaged = {name.split("/", 1)[0] for name in sdist_files(sdist) if "/" in name}
    assert packaged == {"airflow_provider_aep", "airflow_provider_aep.egg-info"}


def test_the_emulator_wheel_holds_the_emulator_its_data_and_the_license(emulator_wheel: Path):
    with zipfile.ZipFile(emulator_wheel) as archive:
        names = set(archive.namelist())
        assert archive.read(f"{EMULATOR_DIST_INFO}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        metadata = archive.read(f"{EMULATOR_DIST_INFO}/METADATA").decode()
        entry_points = archive.read(f"{EMULATOR_DIST_INFO}/entry_points.txt").decode()
    assert {name.split("/", 1)[0] for name in names} == {"aep_emulator", EMULATOR_DIST_INFO}
    assert {"aep_emulator/specs.json", "aep_emulator/py.typed", "aep_emulator/routes/flows.py"} <= names
    # The folder's project files are the distribution's, not package data.
    assert not names & {"aep_emulator/pyproject.toml", "aep_emulator/README.md", "aep_emulator/LICENSE"}
    assert "License-Expression: Apache-2.0" in metadata
    assert not [
        line for line in metadata.splitlines() if "airflow" in line.lower() and "Requires-Dist" in line
    ]
    assert "aep-emulator = aep_emulator.cli:main" in entry_points


def test_the_readme_names_only_files_the_sdist_ships(sdist: Path):
    files = sdist_files(sdist)
    readme = files["README.md"].decode()
    assert readme == (ROOT / "README.md").read_text()
    prose = FENCED.sub("", readme)
    code_spans = re.findall(r"`([^`\n]+)`", prose)
    link_texts = re.findall(r"(?<!\])\[([^\]\n]+)\](?=[(\[])", prose)
    named = set(code_spans) | set(link_texts)
    in_repository = {
        n for n in named if re.fullmatch(r"[\w.\-/]+", n) and (ROOT / n).exists() and n not in {".", ".."}
    }
    shipped = {
        n for n in in_repository if n in files or any(f.startswith(f"{n.rstrip('/')}/") for f in files)
    }
    assert in_repository == shipped, f"named in the README but not in the package: {in_repository - shipped}"


def test_the_wheel_installed_in_a_clean_venv_is_a_provider_airflow_finds(wheel: Path, tmp_path: Path):
    venv, pins = clean_venv(tmp_path)
    python = venv / "bin" / "python"
    airflow_line = ".".join(airflow.__version__.split(".")[:2])
    constraints = ROOT / "constraints" / f"airflow-{airflow_line}.txt"
    run(BIN / "uv", "pip", "install", "--quiet", "--python", python, "-c", constraints, "-c", pins, wheel)

    home = tmp_path / "airflow-home"
    env = clean_env(venv, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    found = json.loads(run(python, "-c", PROBE, cwd=tmp_path, env=env).stdout.strip().splitlines()[-1])

    assert Path(found["module_file"]).is_relative_to(venv), found["module_file"]  # not the checkout
    assert not found["direct_url"].get("dir_info", {}).get("editable"), found["direct_url"]
    assert found["entry_points"] == ["airflow_provider_aep.get_provider_info:get_provider_info"]
    assert found["provider_version"] == __version__
    assert found["hook_class_name"] == "airflow_provider_aep.hooks.aep.AEPHook"
    assert found["hook_connection_type"] == found["hook_class_conn_type"] == "aep"
    assert "airflow_provider_aep.sensors.dataflow_run" in found["imported_modules"]
    assert "airflow_provider_aep.links.AEPDataflowLink" in found["extra_links"]
    assert found["license_paths"] == [f"{DIST_INFO}/licenses/LICENSE"]
    assert found["license_text"] == (ROOT / "LICENSE").read_text()


def test_the_emulator_wheel_installed_alone_serves_aep_without_airflow(emulator_wheel: Path, tmp_path: Path):
    venv, pins = clean_venv(tmp_path)
    python = venv / "bin" / "python"
    run(BIN / "uv", "pip", "install", "--quiet", "--python", python, "-c", pins, emulator_wheel)
    env = clean_env(venv)

    usage = run(venv / "bin" / "aep-emulator", "--help", cwd=tmp_path, env=env).stdout
    assert usage.startswith("usage: aep-emulator")
    printed = run(venv / "bin" / "aep-emulator", "--print-connections", cwd=tmp_path, env=env).stdout
    assert "export AIRFLOW_CONN_AEP_DEFAULT=" in printed
    found = json.loads(
        run(python, "-c", EMULATOR_PROBE, cwd=tmp_path, env=env).stdout.strip().splitlines()[-1]
    )

    assert Path(found["module_file"]).is_relative_to(venv), found["module_file"]  # not the checkout
    assert not found["direct_url"].get("dir_info", {}).get("editable"), found["direct_url"]
    assert found["version"] == __version__
    assert found["airflow"] is False
    assert found["provider"] is False
    assert found["specs_status"] == 200
    assert "Amazon S3" in found["spec_names"]
    assert "activation-datalake" in found["spec_names"]
    assert found["license_paths"] == [f"{EMULATOR_DIST_INFO}/licenses/LICENSE"]
