"""``manage.py dump_snapshot`` against golden files, one per server (PostGIS or not)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.db  # every test here reads the fixture database

GOLDEN = Path(__file__).parent / "golden"


def test_dump_matches_the_golden_file():
    out, err = io.StringIO(), io.StringIO()
    call_command("dump_snapshot", "--stable", stdout=out, stderr=err)
    document = json.loads(out.getvalue())
    name = "snapshot-postgis.json" if os.environ.get("PORTAL_TEST_HAS_POSTGIS") == "1" else "snapshot-plain.json"
    golden = GOLDEN / name
    if os.environ.get("PORTAL_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    expected = json.loads(golden.read_text())
    assert document == expected, "snapshot differs; rerun with PORTAL_UPDATE_GOLDEN=1 and review the diff"
    # Skipped objects are reported, with a reason.
    if os.environ.get("PORTAL_TEST_HAS_POSTGIS") == "1":
        assert "skipped extensions.spatial_ref_sys: it belongs to an extension" in err.getvalue()
    assert all("TOPSECRET" not in line and "secret_" not in line for line in out.getvalue().splitlines())
