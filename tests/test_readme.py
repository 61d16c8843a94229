"""The documentation tells the truth about configuration: every setting is in the configuration
page's table (docs/configuration.md) with its environment variable; README.md, the front door,
opens with the two set-up commands, stays short and links only to pages that exist."""

import re
from pathlib import Path

from django.conf import settings

from autoapi.conf import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
README_MAX_LINES = 300


def settings_table() -> dict[str, str]:
    """The configuration page's table of PORTAL settings: setting name -> its environment variable."""
    rows = {}
    for line in CONFIGURATION.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 4:
            rows[cells[0].strip("`")] = cells[1].strip("`")
    return rows


def test_readme_opens_with_the_two_commands():
    first_block = README.split("```")[1]
    commands = [
        line.split("#")[0].strip() for line in first_block.splitlines() if line.strip() and line.strip() != "sh"
    ]
    assert commands == ["make demo", "make test"]


def test_every_portal_setting_is_documented_with_its_environment_variable():
    table = settings_table()
    for name in set(DEFAULTS) | set(settings.PORTAL):
        assert name in table, f"PORTAL[{name!r}] is not in the settings table of docs/configuration.md"
        assert table[name] == f"PORTAL_{name}", (
            f"PORTAL_{name} is not the environment variable of {name} in docs/configuration.md"
        )


def test_the_settings_table_names_no_setting_that_does_not_exist():
    unknown = set(settings_table()) - (set(DEFAULTS) | set(settings.PORTAL))
    assert not unknown, f"docs/configuration.md documents settings the portal does not have: {sorted(unknown)}"


def test_readme_is_a_front_door():
    lines = README.count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines, more than {README_MAX_LINES}: move sections to docs/"
    )


def test_readme_links_only_to_pages_that_exist():
    targets = re.findall(r"\]\((docs/[^)#\s]+)", README)
    assert targets, "README.md links to no page of docs/"
    for target in targets:
        assert (ROOT / target).is_file(), f"README.md links to {target}, which does not exist"


def test_the_readme_names_only_settings_that_exist():
    """Each variable of the README's main settings is read by the code: a PORTAL setting, or read
    from the environment by portal/settings.py or portal/gunicorn.conf.py."""
    sources = (ROOT / "portal" / "settings.py").read_text() + (ROOT / "portal" / "gunicorn.conf.py").read_text()
    table = README[README.index("## Main settings") :]
    table = table[: table.index("\n## ")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    names = [name for row in rows for name in re.findall(r"`([A-Z_]+)`", row.split("|")[1])]
    assert len(names) >= 10
    for name in names:
        known = name.removeprefix("PORTAL_") in DEFAULTS or f'"{name}"' in sources
        assert known, f"README.md's main settings name {name}, which the portal does not read"


def test_the_files_the_documentation_names_exist():
    """A module or file named in README.md or docs/ (`autoapi/web/urls.py`) is where it says: code
    moves, and its documentation follows."""
    pattern = re.compile(r"`((?:autoapi|catalog|portal|tests|bench|static|templates|docs)/[\w./-]+\.\w+)`")
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for name in sorted(set(pattern.findall(page.read_text()))):
            assert (ROOT / name).exists(), f"{page.relative_to(ROOT)} names {name}, which does not exist"
