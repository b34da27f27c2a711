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
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from portal.metrics import ingest_metrics, serve_worker_metrics
from portal.services.alerts import device_alerts, offline, thresholds
from portal.services.clock import clock
from portal.services.fleet import commands
from portal.services.fleet import telemetry_store as store

log = logging.getLogger("upsconnect.ingest")

DEFAULT_CLIENT_ID = "upsconnect-ingest"
STOP_GRACE_S = 8.0  # SIGTERM to exit, at most
IDLE_FLUSH_S = 0.005  # the stream paused (often: the broker's in-flight window is full): write now
RETRY_DB_S = 1.0
SHARED_PROBE_TIMEOUT_S = 5.0
PROBE_TOPIC = "upsconnect/ingest-probe"
MALFORMED_LOGGED_PER_PERIOD = 10
# The device page polls every 5 s: expiring each second keeps "timed out" as prompt as when the page did it.
HOUSEKEEPING_EVERY_S = 1.0
OFFLINE_PASS_EVERY_S = 5.0  # how often lost or silent devices are checked against the grace period
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
    received_at: float = field(default_factory=time.monotonic)  # for the lag metric


def alert_on_batch(
    telemetry: store.BatchResult,
    events: store.BatchResult,
    *,
    now: datetime,
) -> int:
    """Hand what a stored batch changed to alerts, in the batch's transaction; returns deliveries queued."""
    today = now.date()
    # A lost connection alerts only after the grace period, from the offline pass (alerts/offline.py).
    queued = thresholds.evaluate_batch(telemetry.latest_variables, now=now)
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
        offline_grace_s: float | None = None,
        offline_pass_every_s: float = OFFLINE_PASS_EVERY_S,
    ) -> None:
        self.app = app
        grace = app.config.get("OFFLINE_GRACE_SECONDS", offline.DEFAULT_GRACE_S)
        self.offline_grace_s = float(offline_grace_s if offline_grace_s is not None else grace)
        self.offline_pass_every_s = offline_pass_every_s
        self._heard_since: datetime | None = None  # business time of this worker's first offline pass
        self.max_past_s = float(app.config.get("DEVICE_TS_MAX_PAST_S", contract.DEFAULT_MAX_PAST_S))
        self.max_future_s = float(app.config.get("DEVICE_TS_MAX_FUTURE_S", contract.DEFAULT_MAX_FUTURE_S))
        self.endpoint = parse_mqtt_url(url)
        self.client_id = client_id
        self.shared_group = shared_group
        self.batch_size = batch_size
        self.flush_s = flush_ms / 1000
        self.stats_every_s = stats_every_s
        self.counters: Counter[str] = Counter()
        self.lag_s = 0.0  # the last batch written: from receiving its oldest message to its commit
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
        self._log_rejection(topic, contract.Rejection.MALFORMED, error)

    def _log_rejection(self, topic: str, reason: str, error: str) -> None:
        if self._malformed_logged < MALFORMED_LOGGED_PER_PERIOD:
            self._malformed_logged += 1
            log.warning("dropped a message on %r (%s): %s", topic[:200], reason, error)

    def rejected_by_reason(self) -> dict[str, int]:
        """Messages refused, by the contract's reasons: the one count the stats line and metrics show."""
        return {
            str(reason): self.counters["malformed" if reason == contract.Rejection.MALFORMED else f"rejected.{reason}"]
            for reason in contract.Rejection
        }

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
        next_housekeeping = next_offline_pass = time.monotonic()
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
                if time.monotonic() >= next_offline_pass and self.subscribed.is_set():
                    next_offline_pass = time.monotonic() + self.offline_pass_every_s
                    self._offline_pass()
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

    def _offline_pass(self) -> None:
        """Offline alerts, debounced: lost or silent past the grace period; one alert and one recovery each."""
        try:
            now = clock().now()
            if self._heard_since is None:
                self._heard_since = now  # silence before this worker listened says nothing about devices
            done = offline.evaluate_offline(
                now, offline.offline_cutoff(self.offline_grace_s), heard_since=self._heard_since
            )
            db.session.commit()
        except Exception:  # the database may be locked or away: try again on the next round
            self._rollback()
            log.exception("offline pass failed")
            return
        self.counters["alerts.offline"] += done.offline
        self.counters["alerts.back_online"] += done.back_online
        if done.offline or done.back_online:
            log.info("offline pass: %d device(s) offline, %d back online", done.offline, done.back_online)

    def _flush(self, batch: list[Inbound]) -> None:
        while True:
            try:
                counted = self._store(batch)
                db.session.commit()
                self._count(counted)
                self.lag_s = time.monotonic() - min(item.received_at for item in batch)
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
                counted = self._store([item])
                db.session.commit()
                self._count(counted)
            except Exception as error:
                self._rollback()
                self.counters["failed"] += 1
                log.error(
                    "dropped a %s message of %s that cannot be stored: %s", item.channel, item.serial, error
                )

    def _rollback(self) -> None:
        db.session.rollback()
        self._ids.clear()  # placeholder devices created in the failed transaction are gone

    def _count(self, counted: Counter[str]) -> None:
        """Counters move once a batch is committed: a batch written again after a failure counts once."""
        self.counters.update(counted)
        if counted["results.unknown_command"]:
            log.warning(
                "dropped %d command result(s) for commands this portal never sent", counted["results.unknown_command"]
            )

    def _store(self, batch: list[Inbound]) -> Counter[str]:
        """Write one batch in the open transaction; returns what to count once it is committed."""
        now = clock().now()  # business time, read once per batch: rows and alerts of the batch share it
        by_channel: dict[Channel, list[Inbound]] = {channel: [] for channel in contract.DEVICE_TO_PORTAL}
        arrival_s = now.replace(tzinfo=UTC).timestamp()
        refused: Counter[str] = Counter()
        for item in batch:
            if item.channel is None:
                continue
            rejection = contract.check_plausible(
                item.channel, item.payload, arrival_s=arrival_s, max_past_s=self.max_past_s,
                max_future_s=self.max_future_s,
            )  # fmt: skip
            if rejection is not None:
                refused[f"rejected.{rejection[0]}"] += 1
                self._log_rejection(contract.topic(item.serial, item.channel), rejection[0], rejection[1])
                continue
            by_channel[item.channel].append(item)
        # Hellos first, so the rest finds each device with its model.
        store.record_hellos([(item.serial, item.payload) for item in by_channel[Channel.HELLO]], now)
        store.record_states(
            [
                store.StateRow(item.serial, item.payload == contract.STATE_ONLINE, live=not item.retain)
                for item in by_channel[Channel.STATE]
            ],
            now,
            ids=self._ids,
        )
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
        alert_on_batch(saved, logged, now=now)
        refused.update(
            {
                "stored": saved.stored + logged.stored,
                "stored.telemetry": saved.stored,
                "stored.event": logged.stored,
                "duplicates": saved.duplicates + logged.duplicates,
                "events.not_recorded_on_plan": logged.skipped,
                "results.unknown_command": unknown,
            }
        )
        return refused

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
        rejected = self.rejected_by_reason()
        log.info(
            "received %d (telemetry %d, event %d, hello %d, state %d, cmd/result %d), stored %d, duplicates %d, "
            "malformed %d, rejected %d (%s), events not recorded on Basic %d, unknown command results %d, queued %d",
            c["received"], c["received.telemetry"], c["received.event"], c["received.hello"], c["received.state"],
            c["received.cmd/result"], c["stored"], c["duplicates"], c["malformed"], sum(rejected.values()),
            ", ".join(f"{reason} {count}" for reason, count in rejected.items()),
            c["events.not_recorded_on_plan"], c["results.unknown_command"], self._queue.qsize(),
        )  # fmt: skip
        self._malformed_logged = 0

    def start(self) -> None:
        """Connect (retrying in the background until the broker answers) and start writing."""
        log.info("connecting to %s as %s", self.endpoint.url, self.client_id)
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

    def metrics(self) -> list:
        """This worker's stats object as Prometheus metrics (read when scraped)."""
        return ingest_metrics(self.counters, self._queue.qsize(), self.lag_s, rejected=self.rejected_by_reason())

    def run_forever(self) -> int:
        """Run until SIGTERM or SIGINT (clean stop) or a fatal broker refusal; the exit status."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopped.set())
        self.start()
        self.stopped.wait()
        log.info("stopping: writing what is queued")
        # Whatever holds the stop up (a database that hangs), the process ends: unacknowledged messages
        # are delivered again by the broker, so leaving is always safe.
        watchdog = threading.Timer(STOP_GRACE_S, _exit_now, args=(STOP_GRACE_S,))
        watchdog.daemon = True
        watchdog.start()
        self.stop(timeout_s=STOP_GRACE_S - 2)
        return 1 if self.fatal else 0


def _exit_now(grace_s: float) -> None:
    log.error("could not stop cleanly in %.0f s; leaving now (unacknowledged messages are delivered again)", grace_s)
    logging.shutdown()
    os._exit(1)


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
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None, help="Serve Prometheus metrics on this port.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address the metrics port listens on.")
@with_appcontext
def ingest_command(
    client_id: str, shared_group: str | None, batch_size: int, flush_ms: int, stats_every_s: float,
    metrics_port: int | None, metrics_host: str,
) -> None:  # fmt: skip
    """Store what devices publish (telemetry, events, states, command results) until stopped."""
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
    if metrics_port is not None:
        try:
            serve_worker_metrics(metrics_host, metrics_port, worker.metrics)
        except OSError as error:
            raise click.ClickException(f"cannot serve metrics on {metrics_host}:{metrics_port}: {error}") from None
        log.info("metrics at http://%s:%d/metrics", metrics_host, metrics_port)
    sys.exit(worker.run_forever())


@click.command("maintenance")
@with_appcontext
def maintenance_command() -> None:
    """Purge old event log entries, downsample old telemetry, run due scheduled actions; safe to run any number of times."""
    from portal.device_link import publish_command
    from portal.services.fleet import telemetry_partitions
    from portal.services.fleet.scheduled_runs import run_due

    config = current_app.config
    try:
        partitioning = telemetry_partitions.setting(config)
    except telemetry_partitions.PartitionError as error:
        raise click.ClickException(str(error)) from None
    lab_clock = clock()
    retention_days = int(config.get("EVENT_RETENTION_DAYS", 30))
    full_res_days = int(config.get("TELEMETRY_FULL_RES_DAYS", 7))
    bucket_s = int(config.get("TELEMETRY_BUCKET_S", 900))
    # Ages count time lived on the clock: a lab clock move makes nothing old enough to purge or fold.
    purged = store.purge_events(lab_clock.retention_cutoff(timedelta(days=retention_days)))
    full_res_cutoff = lab_clock.retention_cutoff(timedelta(days=full_res_days))
    partitions = None
    if telemetry_partitions.is_partitioned():
        db.session.commit()
        partitions = telemetry_partitions.maintain(full_res_cutoff, lab_clock.today(), bucket_s)
        folded = partitions.folded + partitions.folded_rows
    else:
        folded = store.downsample(full_res_cutoff, bucket_s)
    db.session.commit()
    click.echo(
        f"Purged {purged} event(s) older than {retention_days} days; folded {folded} telemetry sample(s) "
        f"older than {full_res_days} days into {bucket_s // 60}-minute buckets."
    )
    if partitions is not None:
        click.echo(
            f"Telemetry partitions: {len(partitions.created)} created ahead, {len(partitions.dropped)} older than "
            f"{partitions.cutoff:%Y-%m-%d} folded and dropped ({partitions.folded} sample(s)); "
            f"{partitions.folded_rows} sample(s) of the default partition folded row by row."
        )
        if partitions.waiting:
            click.echo(
                f"Telemetry partitions: {', '.join(partitions.waiting)} waited too long for a lock "
                "(on telemetry_samples or devices) and are left for the next run."
            )
    elif partitioning == "daily" and telemetry_partitions.on_postgresql():
        click.echo(
            "Telemetry partitions: telemetry_samples is not partitioned yet; run `flask telemetry partition` "
            "(old samples are deleted row by row until then)."
        )
    elif partitioning == "daily":
        click.echo(
            "Telemetry partitions: UPSCONNECT_TELEMETRY_PARTITIONS=daily is ignored on SQLite (PostgreSQL only); "
            "old samples are deleted row by row."
        )
    # Scheduled fleet actions ride on this job: no daemon of their own (docs/schedules.md).
    due = run_due(now=lab_clock.now(), today=lab_clock.today(), publish=publish_command)
    click.echo(
        f"Scheduled actions: {due.runs} run(s) started, {due.paused} rollout(s) paused after a failure, "
        f"{due.finished} rollout(s) finished."
    )
