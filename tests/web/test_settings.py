"""Production settings: `check --deploy` is clean, and a missing SECRET_KEY is loud."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_overrides={
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "trialsite.example.org",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_without_secret_key_refuses_to_start(tmp_path):
    result = run_manage("check", env_overrides={"DEBUG": "0", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_refuses_a_short_or_default_secret_key(tmp_path):
    from trialsite.settings import DEV_SECRET_KEY

    db = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    for key, says in [
        ("short-key", "SECRET_KEY is too weak (9 characters"),
        ("a" * 60, "5 distinct"),
        (DEV_SECRET_KEY, "development default"),
        ("django-insecure-" + secrets.token_urlsafe(50), "development default or a generated insecure key"),
    ]:
        result = run_manage("check", env_overrides={"DEBUG": "0", "SECRET_KEY": key, "DATABASE_URL": db})
        assert result.returncode != 0, key
        assert "ImproperlyConfigured" in result.stderr, result.stderr[-500:]
        assert says in result.stderr, result.stderr[-500:]


def test_development_keeps_its_default_key(tmp_path):
    result = run_manage("check", env_overrides={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert result.returncode == 0, result.stderr
