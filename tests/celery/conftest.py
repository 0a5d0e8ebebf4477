"""A real Celery worker on Redis against the test database (house rule: a real worker where a test is about tasks).

The worker runs in a subprocess with the test database's URL and a queue of its
own, so it never takes another run's messages. Redis must be running (.ci/run
starts it); CELERY_BROKER_URL chooses it, redis://127.0.0.1:6379/15 otherwise.
"""

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

DEFAULT_BROKER = "redis://127.0.0.1:6379/15"


def _database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def celery_worker_env() -> dict:
    """More environment for the worker; a test module overrides this fixture (the export test slows its zips)."""
    return {}


@pytest.fixture
def celery_worker_pool() -> list[str]:
    """The worker's pool options; a test parametrizes this name for another pool (a prefork child it can kill)."""
    return ["-P", "solo"]


@contextmanager
def running_worker(tmp_path: Path, *, broker: str | None = None, name: str = "worker", env: dict | None = None, pool: tuple[str, ...] = ("-P", "solo")):
    """A real worker subprocess on `broker` with a queue of its own (`env`: more environment, `pool`: its pool
    options); the test process sends to that queue while it runs. Yields {"queue", "log", "process"}."""
    from trialsite.celery import app

    broker = broker or os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER
    try:
        redis.Redis.from_url(broker, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {broker}: start it (see README, 'make test') - {exc}")
    queue = f"trialsite-test-{uuid.uuid4().hex[:8]}"
    env = (
        os.environ
        | {
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker,
            "CELERY_RESULT_BACKEND": broker,
            "DJANGO_SETTINGS_MODULE": "trialsite.settings",
            "CELERY_TASK_DEFAULT_QUEUE": queue,  # what the worker itself queues (a task queuing another) stays on this queue
        }
        | (env or {})
    )
    log = tmp_path / f"{name}.log"
    command = [sys.executable, "-m", "celery", "-A", "trialsite", "worker", *pool, "-Q", queue, "-n", f"{queue}@%h"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"]
    with open(log, "w") as out:
        worker = subprocess.Popen(command, cwd=Path(settings.BASE_DIR), env=env, stdout=out, stderr=subprocess.STDOUT)
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager", "task_default_queue")}
    app.conf.update(broker_url=broker, result_backend=broker, task_always_eager=False, task_default_queue=queue)
    _fresh_connections(app)
    try:
        deadline = time.monotonic() + 30
        while "ready." not in log.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail("The Celery worker did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.2)
        yield {"queue": queue, "log": log, "process": worker}
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        app.conf.update(saved)
        _fresh_connections(app)
        redis.Redis.from_url(broker).delete(queue)


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path, celery_worker_env, celery_worker_pool):
    with running_worker(tmp_path, env=celery_worker_env, pool=tuple(celery_worker_pool)) as worker:
        yield worker


def _fresh_connections(app) -> None:
    """Forget the pools built for the previous broker (inline tasks earlier in the run build one for memory://)."""
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None  # the result backend is cached per app: rebuild it from the new URL
    app._local.__dict__.pop("backend", None)


def wait_for(check, timeout: float = 30.0, interval: float = 0.2):
    """Poll `check` until it returns something truthy (the worker commits in its own transaction)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return check()
