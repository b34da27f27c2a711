"""``flask ingest`` as a real process: killed mid-stream, restarted, sharing a stream, refusing $share."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from portal.extensions import db
from portal.ingest import IngestWorker
from portal.models import TelemetrySample
from tests.ingest.conftest import DevicePublisher, count, portal_url, wait_until

TOTAL = 3000


def stream(ups, total: int) -> threading.Thread:
    """Publish ``total`` samples at QoS 1 in the background, as fast as the broker acknowledges them."""

    def run() -> None:
        for _ in range(total):
            ups.telemetry()
        ups.flush()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_worker_killed_mid_stream_loses_no_qos1_telemetry(mosquitto, identities, ingest_process):
    url = portal_url(mosquitto)
    args = ("--client-id", "ingest-kill-test", "--batch-size", "200", "--flush-ms", "100")
    first = ingest_process(url, *args)
    wait_until(lambda: "subscribed at QoS 1" in first.log_text(), 20, "the worker to subscribe")
    ups = DevicePublisher(mosquitto, identities[0])
    try:
        publishing = stream(ups, TOTAL)
        wait_until(lambda: count(TelemetrySample) >= 300, 20, "a few hundred samples before the kill")
        first.kill()  # SIGKILL: whatever was received but not committed was never acknowledged
        stored_at_kill = count(TelemetrySample)
        publishing.join(60)
        assert not publishing.is_alive()
    finally:
        ups.close()
    assert stored_at_kill < TOTAL, "the kill came too late to prove anything"

    second = ingest_process(url, *args)
    wait_until(lambda: count(TelemetrySample) == TOTAL, 40, f"all {TOTAL} samples after the restart")
    assert db.session.scalar(select(func.count(func.distinct(TelemetrySample.seq)))) == TOTAL
    assert second.terminate() == 0
    assert "stopping: writing what is queued" in second.log_text()


def test_a_killed_worker_gets_what_was_published_while_it_was_down(broker, device, ingest_process):
    """On amqtt too, as long as the worker logs in as a real user (amqtt queues nothing for anonymous)."""
    url = portal_url(broker)
    first = ingest_process(url, "--client-id", "ingest-backlog-test")
    wait_until(lambda: "subscribed at QoS 1" in first.log_text(), 20, "the worker to subscribe")
    ups = device(0)
    ups.telemetry()
    wait_until(lambda: count(TelemetrySample) == 1, 20, "the first sample")
    first.kill()
    for _ in range(500):
        ups.telemetry()
    ups.flush()

    ingest_process(url, "--client-id", "ingest-backlog-test")
    wait_until(lambda: count(TelemetrySample) == 501, 30, "the 500 samples sent while the worker was down")


def test_shared_subscription_is_refused_clearly_on_the_embedded_broker(ingest_process, tmp_path):
    process = ingest_process("mqtt://portal:x@127.0.0.1:9", "--shared", "workers", kind="embedded")
    assert process.proc.wait(30) != 0
    assert "shared subscriptions ($share/...) are not supported by the embedded broker" in process.log_text()


def test_two_workers_share_the_stream_on_mosquitto(app, mosquitto, identities):
    workers = [
        IngestWorker(
            app,
            url=portal_url(mosquitto),
            client_id=f"ingest-shared-{n}",
            shared_group="ingest",
            batch_size=100,
            flush_ms=50,
        )
        for n in range(2)
    ]
    ups = None
    try:
        for worker in workers:
            worker.start()
            wait_until(worker.subscribed.is_set, 10, "a shared subscription")
        ups = DevicePublisher(mosquitto, identities[0])
        for _ in range(400):
            ups.telemetry()
        ups.flush()
        wait_until(lambda: count(TelemetrySample) == 400, 20, "400 samples through two workers")
        received = [worker.counters["received.telemetry"] for worker in workers]
        assert sum(received) == 400 and min(received) > 0, received
    finally:
        if ups is not None:
            ups.close()
        for worker in workers:
            worker.stop()


def test_a_broker_that_silently_ignores_share_is_detected(app, broker):
    """amqtt accepts "$share/..." and then delivers nothing; the worker proves delivery or stops loudly."""
    worker = IngestWorker(app, url=portal_url(broker), client_id="ingest-probe", shared_group="workers")
    worker.start()
    try:
        if broker.kind == "embedded":
            assert worker.stopped.wait(15)
            assert "shared subscriptions ($share/...) are not supported by this broker" in worker.fatal
        else:
            wait_until(worker._probe_answered.is_set, 10, "the shared-subscription probe")
            assert worker.fatal is None
    finally:
        worker.stop()
