"""The README is the package index's front page: a five-minute read whose links and images are
absolute URLs under the project's own address (relative ones break on the index), each pointing
at a file the repository has and a docs page the Sphinx site builds, and whose DAG is a DAG."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
HOME = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Homepage"]
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_TARGET = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
REFERENCE_TARGET = re.compile(r"^\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
IMAGE = re.compile(r"!\[[^\]]*\](?:\(([^)\s]+)\)|\[([^\]]+)\])")


def prose(text: str) -> str:
    """The README without its code blocks, where brackets are code, not links."""
    return FENCED.sub("", text)


def link_targets(text: str) -> list[str]:
    body = prose(text)
    return INLINE_TARGET.findall(body) + REFERENCE_TARGET.findall(body)


def repository_path(url: str) -> str | None:
    """``docs/x.rst`` for ``<home>/blob/main/docs/x.rst`` (or raw/, tree/); None for other URLs."""
    match = re.fullmatch(rf"{re.escape(HOME)}/(?:blob|raw|tree)/main/(.+)", url)
    return match.group(1) if match else None


def test_it_is_a_five_minute_read():
    assert len(README.splitlines()) <= 250


def test_every_link_and_image_is_an_absolute_url():
    targets = link_targets(README)
    assert targets
    relative = [t for t in targets if not t.startswith("https://")]
    assert relative == [], "relative links break on a package index"


def test_images_come_from_the_project_url():
    references = dict(re.findall(r"^\[([^\]]+)\]:\s*(\S+)", prose(README), re.MULTILINE))
    images = [inline or references[ref] for inline, ref in IMAGE.findall(prose(README))]
    assert images
    for url in images:
        assert url.startswith(f"{HOME}/raw/main/docs/images/"), url
        assert (ROOT / str(repository_path(url))).is_file(), url


def test_every_link_into_the_repository_finds_its_file():
    ours = [t for t in link_targets(README) if t.startswith(HOME)]
    assert ours
    for url in ours:
        path = repository_path(url)
        if path is not None:
            assert (ROOT / path).exists(), url


def test_every_docs_page_it_links_is_built_by_the_sphinx_site():
    index = (ROOT / "docs" / "index.rst").read_text()
    listed = set(re.findall(r"^ {3}([\w/-]+)\s*$", index, re.MULTILINE))
    pages = [
        path
        for url in link_targets(README)
        if (path := repository_path(url)) and path.startswith("docs/") and not path.startswith("docs/images/")
    ]
    assert pages
    for page in pages:
        docname = Path(page).relative_to("docs").with_suffix("").as_posix()
        assert docname in listed, f"{page} is not in docs/index.rst's toctree"


def test_its_dag_is_a_dag_with_the_tutorial_order():
    (code,) = re.findall(r"^## A short DAG\n.*?^```python\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    dag = namespace["dag"]
    upstream = {task.task_id: set(task.upstream_task_ids) for task in dag.tasks}  # type: ignore[attr-defined]
    assert upstream == {
        "list_datasets": set(),
        "source": {"list_datasets"},
        "base": set(),
        "target": {"base"},
        "flow": {"source", "target"},
        "wait": {"flow"},
    }
