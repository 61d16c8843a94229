"""``make loadtest`` works: a short run against the fixture database (the real run is longer), with
slow readers from many loopback addresses; timing targets are loosened (this is not the measure)."""

from __future__ import annotations

import shutil

import pytest

from tests import loadtest

pytestmark = pytest.mark.db  # every test here reads the fixture database


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_a_short_load_test_has_zero_errors(capsys):
    status = loadtest.main(
        [
            "--duration",
            "3",
            "--connections",
            "10",
            "--threads",
            "2",
            "--workers",
            "1",
            "--max-growth",
            "1000",
            "--readers",
            "20",
            "--page-p99-ms",
            "60000",
            "--healthz-p99-ms",
            "60000",
        ]
    )
    out = capsys.readouterr().out
    assert "req/s" in out and "p99" in out and "RSS" in out, out
    assert status == 0, out
    assert "errors        0 " in out
    assert "slow readers  20 from as many loopback addresses" in out, out
    assert "PostgreSQL sessions (max seen)" in out and "FAIL" not in out, out
