"""A real broker and the real ingest worker for the battery fleet test (the tests/ingest approach)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devicelink.brokers import EmbeddedBroker
from devicelink.provisioning import DeviceIdentity, manufacture
from portal.ingest import IngestWorker
from tests.ingest.conftest import FACTORY_KEY, PORTAL_PASSWORD, PORTAL_USER, portal_url
from tests.support.waiting import wait_until


@pytest.fixture
def identities() -> list[DeviceIdentity]:
    return manufacture(3, seed=14, factory_key=FACTORY_KEY)


@pytest.fixture
def broker():
    instance = EmbeddedBroker(users={PORTAL_USER: PORTAL_PASSWORD}, factory_key=FACTORY_KEY)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def worker(app, broker) -> Iterator[IngestWorker]:
    instance = IngestWorker(
        app, url=portal_url(broker), client_id=f"ingest-{uuid.uuid4().hex[:8]}", batch_size=200, flush_ms=50
    )
    instance.start()
    wait_until(instance.subscribed.is_set, 10, "the worker to subscribe")
    yield instance
    instance.stop()
