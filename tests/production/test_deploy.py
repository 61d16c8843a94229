"""Deployment: the gunicorn configuration, safe settings defaults, ``check --deploy``, HTTPS mode."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys

import pytest
from django.test import Client

from tests.production.support import ROOT

GUNICORN_CONF = ROOT / "portal" / "gunicorn.conf.py"
A_REAL_SECRET = "k3Jx9-pQ2vZr8Lw_Tn5Ys7Bd4Fh6Gm1Ac0Ee2Ii4Oo6Uu8Xx9Zz-real-secret-key"
_GUNICORN_ENV = (
    "HOST",
    "PORT",
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
    "GUNICORN_ACCESS_LOG",
    "PORTAL_LOG_FORMAT",
)


def gunicorn_conf(monkeypatch, **env) -> dict:
    for name in _GUNICORN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_defaults(monkeypatch):
    conf = gunicorn_conf(monkeypatch)
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert conf["worker_class"] == "portal.workers.ThreadWorker"  # gthread, see portal/workers.py
    assert 2 <= conf["workers"] <= 8 and conf["threads"] == 48
    assert conf["graceful_timeout"] >= 10 and conf["timeout"] >= 10
    assert conf["max_requests"] == 100_000 and 0 < conf["max_requests_jitter"] < conf["max_requests"]
    assert conf["accesslog"] is None  # the portal logs requests itself, as JSON
    assert conf["preload_app"] is True  # the snapshot is read once, in the master (issue 23)
    assert callable(conf["when_ready"])
    assert conf["logconfig_dict"]["formatters"]["json"]["()"] == "portal.logs.JSONFormatter"


def test_gunicorn_reads_the_environment(monkeypatch):
    conf = gunicorn_conf(
        monkeypatch,
        HOST="0.0.0.0",
        PORT="9001",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="8",
        GUNICORN_MAX_REQUESTS="0",
        GUNICORN_ACCESS_LOG="-",
        PORTAL_LOG_FORMAT="text",
    )
    assert conf["bind"] == ["0.0.0.0:9001"]
    assert (conf["workers"], conf["threads"]) == (3, 8)
    assert (conf["max_requests"], conf["max_requests_jitter"]) == (0, 0)
    assert conf["accesslog"] == "-"
    assert "logconfig_dict" not in conf
    assert gunicorn_conf(monkeypatch, HOST="::", PORT="80")["bind"] == ["[::]:80"]


@pytest.mark.parametrize("name, value", [("PORT", "http"), ("GUNICORN_WORKERS", "0"), ("GUNICORN_THREADS", "-1")])
def test_gunicorn_refuses_nonsense(monkeypatch, name, value):
    with pytest.raises(SystemExit, match=name):
        gunicorn_conf(monkeypatch, **{name: value})


def test_gunicorn_accepts_the_configuration():
    """gunicorn itself loads the file and the app (``--check-config``)."""
    proc = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", str(GUNICORN_CONF), "portal.wsgi:application"],
        cwd=ROOT,
        env=dict(os.environ, DJANGO_SETTINGS_MODULE="portal.settings"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _recipe(makefile: str, target: str) -> str:
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line)
    return "\n".join(recipe)


@pytest.mark.parametrize("target", ["serve", "demo"])
def test_makefile_serves_through_the_configuration(target):
    recipe = _recipe((ROOT / "Makefile").read_text(), target)
    assert "gunicorn -c portal/gunicorn.conf.py portal.wsgi:application" in recipe, recipe
    assert "HOST=$(HOST) PORT=$(PORT)" in recipe


def _settings_in_subprocess(**env) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({k: getattr(settings, k, None) for k in ("
        "'DEBUG', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_PROXY_SSL_HEADER', "
        "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', 'SILENCED_SYSTEM_CHECKS', 'ALLOWED_HOSTS')}"
        " | {'connect_timeout': settings.DATABASES['published']['OPTIONS'].get('connect_timeout')}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_HTTPS", "PORTAL_HSTS", "PORTAL_DEBUG"))}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(base, DJANGO_SETTINGS_MODULE="portal.settings", **env),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_safe_defaults():
    plain = _settings_in_subprocess()
    assert plain["DEBUG"] is False
    assert plain["SECURE_SSL_REDIRECT"] is False and plain["SECURE_HSTS_SECONDS"] == 0
    assert plain["SECURE_PROXY_SSL_HEADER"] is None  # X-Forwarded-Proto is not trusted without PORTAL_HTTPS
    assert plain["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"]
    assert plain["connect_timeout"] == "3"
    assert _settings_in_subprocess(PORTAL_DEBUG="1")["DEBUG"] is True

    https = _settings_in_subprocess(PORTAL_HTTPS="1")
    assert https["SECURE_SSL_REDIRECT"] is True and https["SECURE_HSTS_SECONDS"] == 31536000
    assert https["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert https["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True and https["SECURE_HSTS_PRELOAD"] is True

    opted_out = _settings_in_subprocess(PORTAL_HTTPS="1", PORTAL_HSTS_PRELOAD="0", PORTAL_HSTS_INCLUDE_SUBDOMAINS="0")
    assert {"security.W005", "security.W021"} <= set(opted_out["SILENCED_SYSTEM_CHECKS"])


def _check_deploy(**env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_HTTPS", "PORTAL_HSTS", "PORTAL_DEBUG"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(base, **env),
    )


@pytest.mark.db
def test_check_deploy_is_clean_behind_https():
    proc = _check_deploy(PORTAL_HTTPS="1", DJANGO_SECRET_KEY=A_REAL_SECRET)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "System check identified no issues" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.db
def test_check_deploy_without_https_names_only_the_tls_settings():
    """docs/operations.md: plain HTTP (a TLS proxy not declared) leaves exactly W004 and W008."""
    proc = _check_deploy(DJANGO_SECRET_KEY=A_REAL_SECRET)
    assert proc.returncode == 0
    found = set(__import__("re").findall(r"\((\w+\.\w+)\)", proc.stdout + proc.stderr))
    assert found == {"security.W004", "security.W008"}, proc.stdout + proc.stderr


@pytest.mark.db
def test_https_mode_redirects_and_sends_hsts(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    settings.SECURE_HSTS_SECONDS = 31536000
    client = Client()  # a new client loads the middleware with these settings
    plain = client.get("/api/public/single_pk/?limit=1")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200  # probes over plain HTTP still work
    secure = client.get("/api/public/single_pk/?limit=1", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")


def test_security_headers_on_every_page(client):
    for url in ("/", "/catalog/public/single_pk/", "/api/public/single_pk/"):
        response = client.get(url)
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
