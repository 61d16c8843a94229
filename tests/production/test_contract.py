"""The OpenAPI document says what the server does: schemathesis (``st run <base>/api/schema/
--checks all``) against the real gunicorn on the fixture database, on every operation of every
relation (each relation's list, row and tile paths, the index, OGC API Features and the open-data
standards' documents), with every check and no exclusion (docs/api.md, "OpenAPI").

Few examples per operation and no randomness (``--generation-deterministic``), so that the run
takes minutes and finds the same thing every time; the coverage phase on the operations that
hold every hazard (``COVERED``; all with ``PORTAL_CONTRACT_FULL=1``). What an OpenAPI document cannot say (one
parameter excluding another, a CQL2 filter's grammar) the document says in ``x-parameter-
constraints`` and ``x-grammar``, and ``contract_hooks`` makes the positive cases honour it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ST = Path(sys.executable).parent / "st"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 5
# A request line past gunicorn's limit is refused with the documented 414 (the worker's own
# JSON answer, portal/workers.py), whether or not each parameter is valid alone: schemathesis's
# coverage phase sends every parameter at once, which on a relation of 120 columns is longer than
# any request line.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 414, 415, 422, 428, 429]
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "414", "429", "5xx"]
"""
# The coverage phase (every parameter's boundaries, one by one and all at once) sends a few
# hundred requests per operation: on every one of the 192 it takes over 10 minutes on a loaded
# 2-CPU machine, so the suite runs it on the operations that hold every hazard (each column
# type, hostile names, a composite key, foreign keys, aggregates, a location with tiles, OGC
# API Features); PORTAL_CONTRACT_FULL=1 runs it on all. Fuzzing and the stateful phase run on all.
COVERAGE_EVERYWHERE = os.environ.get("PORTAL_CONTRACT_FULL") == "1"
COVERED = (
    r"^/api/$|^/ogc/collections/\{collectionId\}/items$|^/api/public/(agg_sales|column_name_hazards|"
    r"composite_pk|fk_simple|geo_points|types_[a-z_]+|extension_types)/(\{key\}/)?$"
)
WITHOUT_COVERAGE = f"""
[[operations]]
exclude-path-regex = '{COVERED}'
phases.coverage.enabled = false
"""


@pytest.mark.skipif(not ST.exists(), reason="schemathesis is not installed (pip install -e '.[test]')")
def test_schemathesis_finds_no_mismatch(live_server_url, tmp_path):
    command = [
        str(ST),
        "--no-color",
        "run",
        f"{live_server_url}/api/schema/",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "2",
        "--generation-deterministic",
        "--request-timeout",
        "30",
    ]
    (tmp_path / "schemathesis.toml").write_text(CONFIG + ("" if COVERAGE_EVERYWHERE else WITHOUT_COVERAGE))
    env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="tests.production.contract_hooks",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    run = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=tmp_path, env=env)
    report = "\n".join(
        line if len(line) < 600 else line[:300] + " ... " + line[-200:] for line in run.stdout.splitlines()
    )
    print(report)
    assert "Operations:" in report and "0 selected" not in report, report[-4000:]
    assert run.returncode == 0, report[-8000:] + run.stderr[-2000:]
