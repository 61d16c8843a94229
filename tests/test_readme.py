"""The README tells the truth about configuration: every setting is documented, and it opens
with the two set-up commands."""
from pathlib import Path

from django.conf import settings

from autoapi.conf import DEFAULTS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    first_block = README.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip() and line.strip() != "sh"]
    assert commands == ["make demo", "make test"]


def test_every_portal_setting_is_documented_with_its_environment_variable():
    for name in set(DEFAULTS) | set(settings.PORTAL):
        assert f"`{name}`" in README, f"PORTAL[{name!r}] is not in the README's settings table"
        assert f"`PORTAL_{name}`" in README, f"PORTAL_{name} is not in the README"
