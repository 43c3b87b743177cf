import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_is_503_when_redis_is_down(client):
    import django_rq.queues

    dead = {name: {"URL": "redis://127.0.0.1:1/0"} for name in ("deploys", "default", "billing")}
    with override_settings(RQ_QUEUES=dead):
        django_rq.queues.get_redis_connection.cache_clear() if hasattr(
            django_rq.queues.get_redis_connection, "cache_clear"
        ) else None
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert "Connection" in body["redis"]
