"""The ingest worker: device messages from the broker into the database, each acknowledged once stored.

One paho client with a persistent session and a fixed client id receives at QoS 1. The network
thread only decodes and validates; a writer thread stores what arrives in batches, one transaction
per batch, and only then acknowledges those messages to the broker (paho's manual ack). A worker
killed between receive and commit has acknowledged nothing it lost: the broker delivers it again,
and (device, seq) uniqueness stores it once.

The telemetry store returns what a batch changed; the worker hands that to alerts in the same
transaction (fleet never imports alerts). Between batches the writer also does the housekeeping that
must happen even when nobody looks: commands no device answered are marked timed out.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import click
import paho.mqtt.client as mqtt
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from devicelink import contract
from devicelink.brokers import parse_mqtt_url
from devicelink.contract import Channel
from portal.extensions import db
from portal.services.alerts import device_alerts, thresholds
from portal.services.clock import clock
from portal.services.fleet import commands
from portal.services.fleet import telemetry_store as store

log = logging.getLogger("upsconnect.ingest")

DEFAULT_CLIENT_ID = "upsconnect-ingest"
IDLE_FLUSH_S = 0.005  # the stream paused (often: the broker's in-flight window is full): write now
RETRY_DB_S = 1.0
SHARED_PROBE_TIMEOUT_S = 5.0
PROBE_TOPIC = "upsconnect/ingest-probe"
MALFORMED_LOGGED_PER_PERIOD = 10
# The device page polls every 5 s: expiring each second keeps "timed out" as prompt as when the page did it.
HOUSEKEEPING_EVERY_S = 1.0
SHARED_UNSUPPORTED = (
    "shared subscriptions ($share/...) are not supported by the embedded broker: a worker started "
    "with --shared would receive nothing. Run a single worker without --shared, or use Mosquitto or "
    "another MQTT broker that supports them (UPSCONNECT_MQTT_URL)."
)


@dataclass(frozen=True)
class Inbound:
    """One received message; ``channel`` None means malformed: nothing to store, only to acknowledge."""

    channel: Channel | None
    serial: str
    payload: Any
    mid: int
    qos: int
    retain: bool
    generation: int  # which connection it came on: a mid is only valid on that one


def alert_on_batch(
    states: list[store.StateChange | None],
    telemetry: store.BatchResult,
    events: store.BatchResult,
    *,
    now: datetime,
) -> int:
    """Hand what a stored batch changed to alerts, in the batch's transaction; returns deliveries queued."""
    today = now.date()
    queued = sum(
        device_alerts.alert_state_change(change.device_id, change.online, now=now, today=today)
        for change in states
        if change is not None
    )
    queued += thresholds.evaluate_batch(telemetry.latest_variables, now=now)
    queued += device_alerts.alert_for_events(events.new_event_ids, now=now, today=today)
    return queued


def expire_overdue_commands() -> int:
    """The housekeeping pass: commands no device finished in time become "timed out"; commits."""
    expired = commands.expire_overdue(clock().now())
    db.session.commit()
    return expired


def subscriptions(shared_group: str | None = None) -> list[str]:
    """The filters the worker subscribes to, optionally as one shared-subscription group."""
    filters = [contract.subscription(channel) for channel in contract.DEVICE_TO_PORTAL]
    return [f"$share/{shared_group}/{f}" for f in filters] if shared_group else filters


class IngestWorker:
    """Receives on the paho network thread, stores on a writer thread, acknowledges after commit."""

    def __init__(
        self,
        app: Flask,
        *,
        url: str,
        client_id: str = DEFAULT_CLIENT_ID,
        shared_group: str | None = None,
        batch_size: int = 500,
        flush_ms: int = 200,
        stats_every_s: float = 30.0,
    ) -> None:
        self.app = app
        self.endpoint = parse_mqtt_url(url)
        self.client_id = client_id
        self.shared_group = shared_group
        self.batch_size = batch_size
        self.flush_s = flush_ms / 1000
        self.stats_every_s = stats_every_s
        self.counters: Counter[str] = Counter()
        self.fatal: str | None = None
        self.stopped = threading.Event()  # set on a fatal error, or by stop()
        self.subscribed = threading.Event()  # the broker accepted every subscription
        self._queue: queue.Queue[Inbound] = queue.Queue()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._generation = 0
        self._malformed_logged = 0
        self._probe_topic = f"{PROBE_TOPIC}/{uuid.uuid4().hex}"
        self._probe_mid: int | None = None
        self._probe_answered = threading.Event()
        self._ids = store.DeviceIds()
        self._plans = store.PlanCache()
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self.client = self._make_client()

    # ------------------------------------------------------------ MQTT side (network thread)

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if self.endpoint.username:
            client.username_pw_set(self.endpoint.username, self.endpoint.password)
        if self.endpoint.tls:
            client.tls_set()
        client.manual_ack_set(True)  # acknowledge only what is committed
        # These bound our own outgoing queue; what the broker sends us unacknowledged is bounded by
        # its max_inflight_messages, so a batch never waits for more than that.
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("the broker at %s refused the connection: %s", self.endpoint.url, reason)
            return
        with self._lock:
            self._generation += 1
        log.info(
            "connected to %s as %s (session present: %s)",
            self.endpoint.url,
            self.client_id,
            flags.session_present,
        )
        client.subscribe([(f, 1) for f in subscriptions(self.shared_group)])

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not self._stopping.is_set():
            log.warning("lost the broker connection (%s); reconnecting", reason)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[Any], properties: Any
    ) -> None:
        refused = [f for f, r in zip(subscriptions(self.shared_group), reasons, strict=False) if r.is_failure]
        if mid == self._probe_mid:
            self._send_probe()
            return
        if not refused:
            log.info("subscribed at QoS 1 to %s", ", ".join(subscriptions(self.shared_group)))
            self.subscribed.set()
            if self.shared_group:
                self._probe_mid = client.subscribe(f"$share/{self.shared_group}/{self._probe_topic}", qos=1)[
                    1
                ]
            return
        detail = SHARED_UNSUPPORTED if self.shared_group else "check the ACL of the ingest user"
        self._fail(f"the broker refused the subscription(s) {', '.join(refused)}: {detail}")

    # A broker without shared subscriptions may accept "$share/..." as a plain filter that matches
    # nothing (amqtt does): send ourselves a message through the group to prove it works.
    def _send_probe(self) -> None:
        self.client.publish(self._probe_topic, b"probe", qos=1)
        timer = threading.Timer(SHARED_PROBE_TIMEOUT_S, self._probe_timed_out)
        timer.daemon = True
        timer.start()

    def _probe_timed_out(self) -> None:
        if not self._probe_answered.is_set() and not self._stopping.is_set():
            self._fail(SHARED_UNSUPPORTED.replace("the embedded broker", "this broker"))

    def _fail(self, message: str) -> None:
        self.fatal = message
        log.error(message)
        print(f"flask ingest: {message}", file=sys.stderr, flush=True)
        self.stopped.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self._probe_topic:
            self._probe_answered.set()
            self.client.ack(message.mid, message.qos)
            return
        self.counters["received"] += 1
        parsed = contract.parse_topic(message.topic)
        error = None
        if parsed is None or parsed[1] not in contract.DEVICE_TO_PORTAL:
            error = "not a device-to-portal topic of the contract"
        else:
            serial, channel = parsed
            payload, error = contract.decode(channel, message.payload)
            if error is None and channel == Channel.HELLO and payload["serial"] != serial:
                error = f"hello names serial {payload['serial']} on the topic of {serial}"
        if error is not None:
            self._malformed(message.topic, error)
            serial, channel, payload = "", None, None
        else:
            self.counters[f"received.{channel}"] += 1
        self._queue.put(
            Inbound(channel, serial, payload, message.mid, message.qos, message.retain, self._generation)
        )

    def _malformed(self, topic: str, error: str) -> None:
        self.counters["malformed"] += 1
        if self._malformed_logged < MALFORMED_LOGGED_PER_PERIOD:
            self._malformed_logged += 1
            log.warning("dropped a malformed message on %r: %s", topic[:200], error)

    # ------------------------------------------------------------ database side (writer thread)

    def _collect(self) -> list[Inbound]:
        """Up to batch_size messages, waiting at most flush_ms after the first, less when the stream pauses."""
        try:
            batch = [self._queue.get(timeout=0.1)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.flush_s
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=min(remaining, IDLE_FLUSH_S)))
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        next_stats = time.monotonic() + self.stats_every_s
        next_housekeeping = time.monotonic()
        with self.app.app_context():
            while True:
                batch = self._collect()
                if batch:
                    self._flush(batch)
                elif self._stopping.is_set():
                    break
                if time.monotonic() >= next_housekeeping:
                    next_housekeeping = time.monotonic() + HOUSEKEEPING_EVERY_S
                    self._housekeeping()
                if time.monotonic() >= next_stats:
                    next_stats = time.monotonic() + self.stats_every_s
                    self.log_stats()
            db.session.remove()

    def _housekeeping(self) -> None:
        try:
            expired = expire_overdue_commands()
        except Exception:  # the database may be locked or away: try again on the next round
            self._rollback()
            log.exception("housekeeping failed")
            return
        self.counters["commands.timed_out"] += expired

    def _flush(self, batch: list[Inbound]) -> None:
        while True:
            try:
                self._store(batch)
                db.session.commit()
                break
            except OperationalError as error:  # database away or locked: keep the batch, try again
                self._rollback()
                log.error("could not write a batch of %d messages, retrying: %s", len(batch), error)
                if self._stopping.wait(RETRY_DB_S):
                    return  # not acknowledged: the broker delivers them again next time
            except Exception:
                self._rollback()
                log.exception("a batch of %d messages failed; storing them one by one", len(batch))
                self._store_one_by_one(batch)
                break
        self._ack(batch)

    def _store_one_by_one(self, batch: list[Inbound]) -> None:
        for item in batch:
            try:
                self._store([item])
                db.session.commit()
            except Exception as error:
                self._rollback()
                self.counters["failed"] += 1
                log.error(
                    "dropped a %s message of %s that cannot be stored: %s", item.channel, item.serial, error
                )

    def _rollback(self) -> None:
        db.session.rollback()
        self._ids.clear()  # placeholder devices created in the failed transaction are gone

    def _store(self, batch: list[Inbound]) -> None:
        now = clock().now()  # business time, read once per batch: rows and alerts of the batch share it
        by_channel: dict[Channel, list[Inbound]] = {channel: [] for channel in contract.DEVICE_TO_PORTAL}
        for item in batch:
            if item.channel is not None:
                by_channel[item.channel].append(item)
        for item in by_channel[Channel.HELLO]:  # first, so the rest finds the device with its model
            store.record_hello(item.serial, item.payload, now)
        states = [
            store.record_state(
                item.serial, item.payload == contract.STATE_ONLINE, now, ids=self._ids, live=not item.retain
            )
            for item in by_channel[Channel.STATE]
        ]
        telemetry = [
            store.TelemetryRow(i.serial, i.payload["seq"], i.payload["ts"], i.payload["vars"])
            for i in by_channel[Channel.TELEMETRY]
        ]
        saved = store.store_telemetry_batch(telemetry, now=now, ids=self._ids)
        events = [
            store.EventRow(i.serial, p["seq"], p["ts"], p["code"], p["severity"], p["text"])
            for i in by_channel[Channel.EVENT]
            for p in [i.payload]
        ]
        logged = store.store_events(events, now.date(), now=now, ids=self._ids, plans=self._plans)
        unknown = sum(
            not store.record_command_result(i.payload, now, serial=i.serial)
            for i in by_channel[Channel.CMD_RESULT]
        )
        alert_on_batch(states, saved, logged, now=now)
        self.counters.update(
            {
                "stored": saved.stored + logged.stored,
                "stored.telemetry": saved.stored,
                "stored.event": logged.stored,
                "duplicates": saved.duplicates + logged.duplicates,
                "events.not_recorded_on_plan": logged.skipped,
                "results.unknown_command": unknown,
            }
        )
        if unknown:
            log.warning("dropped %d command result(s) for commands this portal never sent", unknown)

    def _ack(self, batch: list[Inbound]) -> None:
        """Acknowledge in arrival order, as MQTT requires; a mid of an earlier connection means nothing now."""
        with self._lock:
            generation = self._generation
        for item in batch:
            if item.qos > 0 and item.generation == generation:
                self.client.ack(item.mid, item.qos)
        self.counters["acknowledged"] += len(batch)

    # ------------------------------------------------------------ life cycle

    def log_stats(self) -> None:
        c = self.counters
        log.info(
            "received %d (telemetry %d, event %d, hello %d, state %d, cmd/result %d), stored %d, duplicates %d, "
            "malformed %d, events not recorded on Basic %d, unknown command results %d, queued %d",
            c["received"], c["received.telemetry"], c["received.event"], c["received.hello"], c["received.state"],
            c["received.cmd/result"], c["stored"], c["duplicates"], c["malformed"],
            c["events.not_recorded_on_plan"], c["results.unknown_command"], self._queue.qsize(),
        )  # fmt: skip
        self._malformed_logged = 0

    def start(self) -> None:
        """Connect (retrying in the background until the broker answers) and start writing."""
        self._writer.start()
        self.client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=30)
        self.client.loop_start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Store and acknowledge what was received, then disconnect; anything later is redelivered."""
        self._stopping.set()
        self._writer.join(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()
        self.log_stats()
        self.stopped.set()

    def run_forever(self) -> int:
        """Run until SIGTERM or SIGINT (clean stop) or a fatal broker refusal; the exit status."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopped.set())
        self.start()
        self.stopped.wait()
        log.info("stopping: writing what is queued")
        self.stop()
        return 1 if self.fatal else 0


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.command("ingest")
@click.option(
    "--client-id",
    default=DEFAULT_CLIENT_ID,
    show_default=True,
    help="Fixed MQTT client id: the persistent session's name.",
)
@click.option(
    "--shared",
    "shared_group",
    default=None,
    metavar="GROUP",
    help="Share the stream with other workers of GROUP ($share/GROUP/...).",
)
@click.option(
    "--batch-size",
    default=500,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Write after this many messages...",
)
@click.option(
    "--flush-ms",
    default=200,
    show_default=True,
    type=click.IntRange(1, 60_000),
    help="...or this long after the first one.",
)
@click.option(
    "--stats-every-s",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Log the counters this often.",
)
@with_appcontext
def ingest_command(
    client_id: str, shared_group: str | None, batch_size: int, flush_ms: int, stats_every_s: float
) -> None:
    """Store what devices publish (telemetry, events, states, command results) until stopped."""
    _configure_logging()
    config = current_app.config
    url = config.get("MQTT_URL")
    if not url:
        raise click.ClickException(
            "no broker is configured: set UPSCONNECT_MQTT_URL (mqtt://user:password@host:port)"
        )
    if shared_group and config.get("MQTT_BROKER_KIND") == "embedded":
        log.error(SHARED_UNSUPPORTED)
        raise click.ClickException(SHARED_UNSUPPORTED)
    worker = IngestWorker(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        url=url,
        client_id=client_id,
        shared_group=shared_group,
        batch_size=batch_size,
        flush_ms=flush_ms,
        stats_every_s=stats_every_s,
    )
    sys.exit(worker.run_forever())


@click.command("maintenance")
@with_appcontext
def maintenance_command() -> None:
    """Purge old event log entries and downsample old telemetry; safe to run any number of times."""
    config = current_app.config
    now = clock().now()
    retention_days = int(config.get("EVENT_RETENTION_DAYS", 30))
    full_res_days = int(config.get("TELEMETRY_FULL_RES_DAYS", 7))
    bucket_s = int(config.get("TELEMETRY_BUCKET_S", 900))
    purged = store.purge_events(now - timedelta(days=retention_days))
    folded = store.downsample(now - timedelta(days=full_res_days), bucket_s)
    db.session.commit()
    click.echo(
        f"Purged {purged} event(s) older than {retention_days} days; folded {folded} telemetry sample(s) "
        f"older than {full_res_days} days into {bucket_s // 60}-minute buckets."
    )
