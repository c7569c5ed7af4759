"""The documentation site (mkdocs.yml, docs/): built once with ``mkdocs build --strict``; every
command and option of the CLI is in its generated reference, every relative link in docs/ (and
the README) resolves, anchors included, and the IaC page shows the checked files verbatim."""

from __future__ import annotations

import html
import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from layerforge.cli import cli
from tests.conftest import sandbox_required

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"

# One command module imported before mkdocs-click reads the group: without the docs hook that
# loads every lazy command first, the reference would then hold that command alone.
BUILD_WITH_ONE_COMMAND_LOADED = (
    "import sys, layerforge.cli.commands.verify; from mkdocs.__main__ import cli; "
    "cli(sys.argv[1:], prog_name='mkdocs')"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once. No ``--quiet``: mkdocs 1.6 then ignores warnings under --strict."""
    missing = [name for name in ("mkdocs", "mkdocs_click") if not importlib.util.find_spec(name)]
    if missing:
        message = f"{', '.join(missing)} not installed: pip install '.[docs]'"
        if sandbox_required():
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            *(sys.executable, "-c", BUILD_WITH_ONE_COMMAND_LOADED, "build", "--strict"),
            *("--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(out)),
        ],
        cwd=out,  # the installed layerforge, not the checkout's by accident of sys.path
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr}"
    assert "WARNING" not in done.stderr, done.stderr
    return out


def page_html(site: Path, doc: Path) -> str:
    """The built page of a docs/ Markdown file (mkdocs' directory URLs)."""
    relative = doc.relative_to(DOCS).with_suffix("")
    built = relative.parent if relative.name == "index" else relative
    return (site / built / "index.html").read_text("utf-8")


def has_page(doc: Path) -> bool:
    """A Markdown file the site builds a page of (README's anchors follow GitHub's rules)."""
    return doc.suffix == ".md" and doc.is_relative_to(DOCS)


def reference_sections(site: Path) -> dict[str, str]:
    """The generated reference's text under each command heading, by its anchor."""
    page = page_html(site, DOCS / "commands.md")
    parts = re.split(r'(?=<h[1-6] id="layerforge[^"]*")', page)
    sections = {}
    for part in parts[1:]:
        anchor = re.match(r'<h[1-6] id="([^"]+)"', part)
        assert anchor is not None
        sections[anchor[1]] = html.unescape(re.sub(r"<[^>]+>", "", part))
    return sections


def commands() -> Iterator[tuple[str, click.Command, click.Context]]:
    """The group and every command it lists (each loaded), with the context --help uses."""
    root = click.Context(cli, info_name="layerforge")
    yield "layerforge", cli, root
    for name in cli.list_commands(root):
        command = cli.get_command(root, name)
        assert command is not None, f"layerforge {name} is listed but does not load"
        yield f"layerforge-{name}", command, click.Context(command, info_name=name, parent=root)


def test_the_reference_has_every_command(site: Path) -> None:
    sections = reference_sections(site)
    missing = [anchor for anchor, _, _ in commands() if anchor not in sections]
    assert not missing, f"commands missing from docs/commands.md: {missing}"


def test_the_reference_has_every_option_and_argument_of_each_command(site: Path) -> None:
    sections = reference_sections(site)
    absent = []
    for anchor, command, context in commands():
        for param in command.get_params(context):
            if isinstance(param, click.Option) and param.hidden:
                continue
            names = (
                [*param.opts, *param.secondary_opts]
                if isinstance(param, click.Option)
                else [param.human_readable_name]
            )
            absent += [
                f"{anchor}: {name}"
                for name in names
                if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", sections[anchor])
            ]
    assert not absent, f"missing from the generated reference: {absent}"


def markdown_links(text: str) -> list[str]:
    """Link targets of a Markdown text, outside code (inline links, references, <a href>)."""
    prose = re.sub(r"^ *(```|~~~).*?^ *\1", "", text, flags=re.S | re.M)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    inline = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose)
    references = re.findall(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", prose, flags=re.M)
    anchors = re.findall(r"<a\s[^>]*href=\"([^\"]+)\"", prose)
    return inline + references + anchors


def relative_links() -> Iterator[tuple[Path, str]]:
    """(Markdown file, target) for every link that names no scheme: the ones that can break."""
    for source in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for target in markdown_links(source.read_text("utf-8")):
            if not re.match(r"^([a-zA-Z][\w+.-]*:|//)", target):
                yield source, target


def test_the_link_finder_sees_links_of_every_kind() -> None:
    text = (
        '[a](one.md) [b](<two.md> "title") `[no](code.md)` <a href="three.md#x">c</a>\n'
        "[d]: four.md\n```\n[no](fenced.md)\n```\n[e](https://example.org)"
    )
    found = sorted(markdown_links(text))
    assert found == ["four.md", "https://example.org", "one.md", "three.md#x", "two.md"]


def test_every_relative_link_in_docs_and_the_readme_resolves(site: Path) -> None:
    links = list(relative_links())
    assert len(links) > 20, "the link finder found almost nothing: is it broken?"
    broken = []
    for source, target in links:
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve() if path else source
        if not resolved.exists():
            broken.append(f"{source.relative_to(ROOT)}: {target} (no such file)")
        elif has_page(resolved) and anchor and f'id="{anchor}"' not in page_html(site, resolved):
            broken.append(f"{source.relative_to(ROOT)}: {target} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    "name", ["sam-template.yaml", "github-workflow.yml", "cdk_stack.py", "main.tf"]
)
def test_the_iac_page_shows_the_checked_files_verbatim(name: str) -> None:
    page = (DOCS / "iac.md").read_text("utf-8")
    checked = (ROOT / "examples" / "iac" / name).read_text("utf-8").strip()
    assert checked in page, f"docs/iac.md's {name} drifted from examples/iac/{name}"
