"""``flask ingest`` as a real process: killed mid-stream, restarted, two sharing a 2,000 msg/s stream, refusing $share."""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.request
from datetime import datetime

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from devicelink import contract
from devicelink.contract import Channel
from devicelink.provisioning import manufacture
from portal.extensions import db
from portal.ingest import IngestWorker
from portal.models import Device, TelemetrySample
from tests.ingest.conftest import (
    FACTORY_KEY,
    PORTAL_PASSWORD,
    PORTAL_USER,
    DevicePublisher,
    count,
    portal_url,
    wait_until,
)

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


SHARED_RATE = 2000  # msg/s offered to the group
SHARED_SECONDS = 10
SHARED_DEVICES = 200
STATS = re.compile(r"received (\d+) \(telemetry (\d+),.*?\), stored (\d+), duplicates (\d+)")


def publish_paced(broker, serials: list[str], rate: int, seconds: float) -> int:
    """``rate`` telemetry messages a second, round-robin over ``serials``, at QoS 1 as the portal's service
    user; returns how many, once the broker has acknowledged every one."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="shared-stream-publisher")
    client.username_pw_set(PORTAL_USER, PORTAL_PASSWORD)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.service_port, keepalive=30)
    client.loop_start()
    seqs = dict.fromkeys(serials, 0)
    sent, last, total = 0, None, int(rate * seconds)
    tick_s = 0.02
    started = time.monotonic()
    try:
        while sent < total:
            due = min(int((time.monotonic() - started + tick_s) * rate), total)
            while sent < due:
                serial = serials[sent % len(serials)]
                seqs[serial] += 1
                payload = contract.telemetry_payload(
                    ts=round(time.time(), 3), seq=seqs[serial], variables={"ups.status": "OL", "ups.load": 20.0}
                )
                last = client.publish(contract.topic(serial, Channel.TELEMETRY), contract.encode(payload), qos=1)
                sent += 1
            time.sleep(tick_s)
        if last is not None:
            last.wait_for_publish(60)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def final_stats(process) -> tuple[int, int, int, int]:
    """The last stats line a stopped worker logged: received, received telemetry, stored, duplicates."""
    lines = STATS.findall(process.log_text())
    assert lines, process.log_text()[-2000:]
    return tuple(int(n) for n in lines[-1])


@pytest.mark.mosquitto
def test_two_worker_processes_share_a_2000_msg_per_s_stream_without_loss_or_doubles(
    app, mosquitto, ingest_process
):
    """Two ``flask ingest --shared`` processes, one Mosquitto group: every message stored once, both busy."""
    serials = [i.serial for i in manufacture(SHARED_DEVICES, seed=23, factory_key=FACTORY_KEY)]
    db.session.add_all(Device(serial=s, model="SMT1500C", first_seen_at=datetime(2026, 1, 1)) for s in serials)
    db.session.commit()
    url = portal_url(mosquitto)
    workers = [
        ingest_process(url, "--client-id", f"ingest-group-{n}", "--shared", "ingest", "--batch-size", "500",
                       "--flush-ms", "100", log_name=f"ingest-{n}.log")
        for n in range(2)
    ]  # fmt: skip
    for worker in workers:
        wait_until(lambda w=worker: "subscribed at QoS 1" in w.log_text(), 20, "each worker to subscribe")

    started = time.monotonic()
    sent = publish_paced(mosquitto, serials, SHARED_RATE, SHARED_SECONDS)
    assert sent == SHARED_RATE * SHARED_SECONDS
    assert time.monotonic() - started < SHARED_SECONDS * 1.5, "the publisher could not offer the rate"
    wait_until(lambda: count(TelemetrySample) >= sent, 40, f"all {sent} samples stored")
    time.sleep(0.5)  # a late redelivery would show as a duplicate in the counters
    assert [w.terminate() for w in workers] == [0, 0]

    assert count(TelemetrySample) == sent
    per_device = db.session.execute(
        select(TelemetrySample.device_id, func.count(), func.count(func.distinct(TelemetrySample.seq)))
        .group_by(TelemetrySample.device_id)
    ).all()  # fmt: skip
    assert len(per_device) == SHARED_DEVICES
    assert {(n, distinct) for _, n, distinct in per_device} == {(sent // SHARED_DEVICES,) * 2}
    stats = [final_stats(w) for w in workers]
    received = [telemetry for _, telemetry, _, _ in stats]
    assert sum(received) == sent, stats  # the group delivered each message to exactly one worker
    assert min(received) > 0, stats  # and both took a part
    assert [stored for _, _, stored, _ in stats] == received and [d for *_, d in stats] == [0, 0], stats


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_stops_a_worker_whose_broker_is_unreachable_within_seconds(ingest_process):
    nobody = f"mqtt://portal:x@127.0.0.1:{_free_port()}"  # nothing listens: every connect is refused
    process = ingest_process(nobody, "--client-id", "ingest-no-broker")
    wait_until(lambda: "connecting to" in process.log_text(), 20, "the worker to start")
    time.sleep(3)  # long enough for a few refused connects and paho's reconnect back-off
    started = time.monotonic()
    assert process.terminate(timeout_s=10) == 0
    assert time.monotonic() - started < 5, process.log_text()


def test_ingest_serves_its_counters_as_prometheus_metrics(mosquitto, identities, ingest_process):
    port = _free_port()
    process = ingest_process(portal_url(mosquitto), "--client-id", "ingest-metrics", "--metrics-port", str(port))
    wait_until(lambda: "subscribed at QoS 1" in process.log_text(), 20, "the worker to subscribe")
    ups = DevicePublisher(mosquitto, identities[0])
    try:
        for _ in range(5):
            ups.telemetry()
        ups.raw(contract.topic(ups.serial, Channel.TELEMETRY), b"not json")
        ups.flush()
    finally:
        ups.close()
    wait_until(lambda: count(TelemetrySample) == 5, 20, "5 samples")

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()

    text = wait_until(lambda: 'upsconnect_ingest_stored_total{kind="telemetry"} 5.0' in scrape() and scrape(), 10,
                      "the stored count in the metrics")  # fmt: skip
    assert 'upsconnect_ingest_received_total{channel="telemetry"} 5.0' in text  # the malformed one is not a channel's
    assert 'upsconnect_ingest_rejected_total{reason="malformed"} 1.0' in text
    assert "upsconnect_ingest_lag_seconds" in text and "upsconnect_ingest_queued 0.0" in text
    assert process.terminate(5) == 0
