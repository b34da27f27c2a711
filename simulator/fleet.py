"""Many simulated devices in one process, each with its own MQTT connection, on a few selector loops.

paho's external-loop API (``socket()``, ``loop_read()``, ``loop_write()``, ``loop_misc()`` and the
socket open/close/register-write callbacks) lets one thread drive thousands of clients: no thread
per device. Every paho call for a device happens on the thread of its shard, so device code needs no
locks; other threads reach a device through ``Fleet.call``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import random
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from devicelink import contract
from devicelink.brokers import MqttEndpoint
from devicelink.contract import Channel

log = logging.getLogger(__name__)
RECENT_EVENTS = 10  # events kept per device for the lab console's live panel


class SimClock:
    """Simulated time: ``start_s + wall elapsed x speed``; the speed can change while running."""

    def __init__(
        self, speed: float = 1.0, start_s: float | None = None, wall: Callable[[], float] = time.monotonic
    ):
        self._wall = wall
        self._lock = threading.Lock()
        self._anchor_wall = wall()
        self._anchor_sim = time.time() if start_s is None else start_s
        self._speed = float(speed)
        self.start_s = self._anchor_sim

    def now(self) -> float:
        """The current simulated unix time in seconds."""
        with self._lock:
            return self._anchor_sim + (self._wall() - self._anchor_wall) * self._speed

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Change the acceleration factor from now on."""
        if not 0 < speed <= 1_000_000:
            raise ValueError("speed must be above 0 and at most 1000000")
        with self._lock:
            wall = self._wall()
            self._anchor_sim += (wall - self._anchor_wall) * self._speed
            self._anchor_wall = wall
            self._speed = float(speed)

    def advance(self, seconds: float) -> None:
        """Jump forward by ``seconds`` of simulated time at once."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._anchor_sim += seconds


class LinkedDevice(Protocol):
    """What the fleet needs from a device."""

    serial: str
    password: str

    def attach(
        self, publish: Callable[[Channel, Any, bool], None], reboot: Callable[[float], None] | None = None
    ) -> None: ...
    def on_connected(self) -> None: ...
    def hello(self) -> dict[str, Any]: ...
    def tick(self, sim_now: float) -> None: ...
    def handle_command(self, raw: bytes, sim_now: float) -> None: ...


@dataclass
class FleetStats:
    """A snapshot for the progress line and the control API."""

    devices: int
    connected: int
    published: int
    acked: int
    ack_rate_per_s: float
    events: int
    commands: int
    reconnects: int
    sim_time_s: float
    speed: float


class _Link:
    """One device's MQTT connection and its place in the loop."""

    __slots__ = (
        "device",
        "client",
        "shard",
        "connected",
        "ever_connected",
        "attempts",
        "dead",
        "closing",
        "retry_pending",
        "ticking",
        "last_telemetry",
        "recent_events",
    )

    def __init__(self, device: LinkedDevice, client: mqtt.Client, shard: _Shard) -> None:
        self.device = device
        self.client = client
        self.shard = shard
        self.connected = False
        self.ever_connected = False
        self.attempts = 0
        self.dead = False
        self.closing = False
        self.retry_pending = False
        self.last_telemetry: dict[str, Any] | None = None  # what the device published last, for the console
        self.recent_events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self.ticking = False


class _Shard:
    """One selector loop thread driving a share of the fleet's connections."""

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet = fleet
        self.index = index
        self.selector = selectors.DefaultSelector()
        self.links: list[_Link] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._calls: list[Callable[[], None]] = []
        self._calls_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name=f"fleet-shard-{index}", daemon=True)

    # -- scheduling (shard thread only, except call_soon)

    def at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._counter), fn))

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Thread-safe: run ``fn`` on this shard's thread."""
        with self._calls_lock:
            self._calls.append(fn)
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    # -- paho socket callbacks

    def on_socket_open(self, client: mqtt.Client, link: _Link, sock: Any) -> None:
        self.selector.register(sock, selectors.EVENT_READ, link)

    def on_socket_close(self, client: mqtt.Client, link: _Link, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)

    def on_socket_register_write(self, client: mqtt.Client, link: _Link, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, link)

    def on_socket_unregister_write(self, client: mqtt.Client, link: _Link, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(sock, selectors.EVENT_READ, link)

    # -- the loop

    def _run(self) -> None:
        misc_every_s = 1.0
        next_misc = time.monotonic() + misc_every_s
        misc_cursor = 0
        while True:
            now = time.monotonic()
            timeout = min(next_misc, self._timers[0][0] if self._timers else next_misc) - now
            for key, mask in self.selector.select(max(0.0, timeout)):
                link = key.data
                if link is None:
                    with contextlib.suppress(BlockingIOError, OSError):
                        self._wake_r.recv(4096)
                    continue
                self._service(link, mask)
            with self._calls_lock:
                calls, self._calls = self._calls, []
            for fn in calls:
                self._guard(fn)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                self._guard(fn)
            if now >= next_misc:
                # keepalive pings and retries: a slice of the links each second, all within ~5 s
                next_misc = now + misc_every_s
                count = len(self.links)
                batch = max(1, count // 5)
                for _ in range(min(batch, count)):
                    link = self.links[misc_cursor % count]
                    misc_cursor += 1
                    if link.client.socket() is not None:
                        link.client.loop_misc()
                if self.stopping and not any(link.client.socket() is not None for link in self.links):
                    break
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("fleet task failed")

    def _service(self, link: _Link, mask: int) -> None:
        client = link.client
        rc = mqtt.MQTT_ERR_SUCCESS
        if mask & selectors.EVENT_READ:
            rc = client.loop_read(max_packets=10)
        if rc == mqtt.MQTT_ERR_SUCCESS and mask & selectors.EVENT_WRITE and client.socket() is not None:
            rc = client.loop_write()
        if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN) and client.socket() is not None:
            # paho normally closes the socket itself on errors; make sure it does not linger
            with contextlib.suppress(Exception):
                client.socket().close()
            self.on_socket_close(client, link, client.socket())


class Fleet:
    """A set of devices, each with its own MQTT client, multiplexed over ``shards`` loop threads."""

    def __init__(
        self,
        devices: Iterable[LinkedDevice],
        endpoint: MqttEndpoint,
        *,
        clock: SimClock | None = None,
        interval_s: float = 10.0,
        shards: int = 1,
        connect_rate_per_s: float = 1000.0,
        keepalive_s: int = 60,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        seed: int = 0,
        max_inflight: int = 20,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval must be above 0 seconds")
        self.devices: dict[str, LinkedDevice] = {}
        self.endpoint = endpoint
        self.clock = clock or SimClock()
        self.interval_s = interval_s
        self.connect_rate_per_s = connect_rate_per_s
        self.keepalive_s = keepalive_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.max_inflight = max_inflight
        self.tls_context = tls_context
        self._rng = random.Random(f"fleet-jitter:{seed}")
        self._shards = [_Shard(self, i) for i in range(max(1, shards))]
        self._links: dict[str, _Link] = {}
        self.published = 0
        self.acked = 0
        self.events = 0
        self.commands = 0
        self.reconnects = 0
        self._rate_window: list[tuple[float, int]] = []
        self.started_at: float | None = None
        for index, device in enumerate(devices):
            self._add(device, self._shards[index % len(self._shards)])

    # -- building

    def _add(self, device: LinkedDevice, shard: _Shard) -> None:
        serial = device.serial
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=serial,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        link = _Link(device, client, shard)
        client.user_data_set(link)
        client.username_pw_set(serial, device.password)
        client.will_set(contract.topic(serial, Channel.STATE), contract.STATE_LOST, qos=1, retain=True)
        client.max_inflight_messages_set(self.max_inflight)
        if self.endpoint.tls:
            client.tls_set_context(self.tls_context or ssl.create_default_context())
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_socket_open = shard.on_socket_open
        client.on_socket_close = shard.on_socket_close
        client.on_socket_register_write = shard.on_socket_register_write
        client.on_socket_unregister_write = shard.on_socket_unregister_write
        device.attach(
            lambda channel, payload, retain, _link=link: self._publish(_link, channel, payload, retain),
            lambda sim_s, _link=link: self._reboot(_link, sim_s),
        )
        self.devices[serial] = device
        self._links[serial] = link
        shard.links.append(link)

    # -- lifecycle

    def start(self) -> None:
        """Start the loops; connections open at ``connect_rate_per_s``."""
        now = time.monotonic()
        self.started_at = now
        for shard in self._shards:
            shard.thread.start()
        for index, link in enumerate(self._links.values()):
            when = now + index / self.connect_rate_per_s
            link.shard.call_soon(
                lambda link=link, when=when: link.shard.at(when, lambda: self._connect(link))
            )

    def stop(self, timeout_s: float = 10.0) -> None:
        """Clean stop: every device says ``lost`` (retained), then disconnects; the session stays."""
        for shard in self._shards:
            shard.call_soon(lambda shard=shard: self._close_shard(shard))
        deadline = time.monotonic() + timeout_s
        for shard in self._shards:
            shard.thread.join(max(0.1, deadline - time.monotonic()))
        for link in self._links.values():
            sock = link.client.socket()
            if sock is not None:
                with contextlib.suppress(Exception):
                    sock.close()

    def _close_shard(self, shard: _Shard) -> None:
        shard.stopping = True
        for link in shard.links:
            link.closing = True
            if link.connected:
                link.client.publish(
                    contract.topic(link.device.serial, Channel.STATE), contract.STATE_LOST, 1, True
                )
                link.client.disconnect()
            elif link.client.socket() is not None:
                link.client.socket().close()
                shard.on_socket_close(link.client, link, link.client.socket())
        # a broker that does not read any more must not hold the stop forever
        shard.at(time.monotonic() + 5.0, lambda: self._force_close(shard))

    def _force_close(self, shard: _Shard) -> None:
        for link in shard.links:
            sock = link.client.socket()
            if sock is not None:
                shard.on_socket_close(link.client, link, sock)
                with contextlib.suppress(Exception):
                    sock.close()
                link.client._sock = None  # noqa: SLF001 - paho has no public way to drop a dead socket

    def __enter__(self) -> Fleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- connecting (shard thread)

    def _connect(self, link: _Link) -> None:
        link.retry_pending = False
        if link.closing or link.dead or link.client.socket() is not None:
            return
        client = link.client
        try:
            client.connect_async(self.endpoint.host, self.endpoint.port, self.keepalive_s)
            client.reconnect()
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.debug("%s: connect failed: %s", link.device.serial, exc)
            self._retry_later(link)

    def _retry_later(self, link: _Link) -> None:
        if link.closing or link.dead or link.retry_pending:
            return
        link.retry_pending = True
        link.attempts += 1
        base = min(self.backoff_max_s, self.backoff_min_s * 2 ** min(link.attempts - 1, 16))
        delay = base * self._rng.uniform(0.5, 1.5)  # jitter: a broker restart must not see one wave
        link.shard.at(time.monotonic() + delay, lambda: self._connect(link))

    def _on_connect(self, client: mqtt.Client, link: _Link, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("%s: broker refused the connection: %s", link.device.serial, reason)
            return  # paho closes the socket; on_disconnect schedules the retry
        serial = link.device.serial
        if link.ever_connected:
            self.reconnects += 1
        link.connected = True
        link.ever_connected = True
        link.attempts = 0
        client.subscribe(contract.topic(serial, Channel.CMD), qos=1)
        client.publish(contract.topic(serial, Channel.HELLO), contract.encode(link.device.hello()), 1, True)
        client.publish(contract.topic(serial, Channel.STATE), contract.STATE_ONLINE, 1, True)
        link.device.on_connected()
        if not link.ticking:
            link.ticking = True
            phase = self._rng.uniform(0, self.interval_s)
            link.shard.at(time.monotonic() + phase, lambda: self._tick(link))

    def _on_disconnect(
        self, client: mqtt.Client, link: _Link, flags: Any, reason: Any, properties: Any
    ) -> None:
        link.connected = False
        if not link.closing and not link.dead:
            self._retry_later(link)

    def _on_message(self, client: mqtt.Client, link: _Link, message: mqtt.MQTTMessage) -> None:
        self.commands += 1
        link.device.handle_command(message.payload, self.clock.now())

    def _on_publish(self, client: mqtt.Client, link: _Link, mid: int, reason: Any, properties: Any) -> None:
        self.acked += 1

    # -- publishing (shard thread)

    def _publish(self, link: _Link, channel: Channel, payload: Any, retain: bool = False) -> None:
        if link.dead or link.closing:
            return
        if channel == Channel.EVENT:
            self.events += 1
            link.recent_events.append(payload)
        elif channel == Channel.TELEMETRY:
            link.last_telemetry = payload
        self.published += 1
        link.client.publish(contract.topic(link.device.serial, channel), contract.encode(payload), 1, retain)

    def _tick(self, link: _Link) -> None:
        if link.dead or link.closing:
            return
        link.shard.at(time.monotonic() + self.interval_s, lambda: self._tick(link))
        link.device.tick(self.clock.now())

    # -- for tests, the control API and the CLI

    def call(self, serial: str, fn: Callable[[LinkedDevice], Any], timeout_s: float = 5.0) -> Any:
        """Run ``fn(device)`` on the device's loop thread and return its result (or raise its error)."""
        link = self._links[serial]
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(fn(link.device))
            except BaseException as exc:
                future.set_exception(exc)

        if threading.current_thread() is link.shard.thread:
            run()
        else:
            link.shard.call_soon(run)
        return future.result(timeout_s)

    def add_devices(self, devices: Iterable[LinkedDevice]) -> list[str]:
        """Add devices to a running fleet, each on the least busy loop; they connect at once."""
        added = []
        for device in devices:
            if device.serial in self._links:
                raise ValueError(f"{device.serial} is already in this fleet")
            shard = min(self._shards, key=lambda s: len(s.links))
            done: Future[None] = Future()

            def add(device: LinkedDevice = device, shard: _Shard = shard, done: Future[None] = done) -> None:
                self._add(device, shard)  # on the loop thread: the loop reads shard.links
                done.set_result(None)
                if self.started_at is not None:
                    self._connect(self._links[device.serial])

            shard.call_soon(add)
            done.result(5.0)
            added.append(device.serial)
        return added

    def remove_device(self, serial: str) -> None:
        """Take a device out of the lab: it says ``lost`` (retained), disconnects and is forgotten."""
        link = self._links[serial]

        def remove() -> None:
            link.closing = True
            if link.connected:
                link.client.publish(contract.topic(serial, Channel.STATE), contract.STATE_LOST, 1, True)
                link.client.disconnect()  # the selector keeps serving the socket until it closes
            elif link.client.socket() is not None:
                self._drop(link)
            link.shard.links.remove(link)

        self.call(serial, lambda _device: remove())
        del self._links[serial]
        del self.devices[serial]

    def last_published(self, serial: str) -> dict[str, Any]:
        """The device's last telemetry message and its most recent events, newest first."""
        link = self._links[serial]
        return {"telemetry": link.last_telemetry, "events": list(reversed(link.recent_events))}

    def _drop(self, link: _Link) -> None:
        """Close the TCP connection without DISCONNECT: the broker publishes the last will."""
        link.connected = False
        sock = link.client.socket()
        if sock is not None:
            link.shard.on_socket_close(link.client, link, sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            link.client._sock = None  # noqa: SLF001 - a crash, not a paho-managed close

    def _reboot(self, link: _Link, sim_s: float) -> None:
        """The network card restarts: the link drops now and comes back after ``sim_s`` simulated seconds."""
        self._drop(link)
        wall_s = max(0.5, sim_s / self.clock.speed)  # long enough for any broker to notice the drop
        link.shard.at(time.monotonic() + wall_s, lambda: self._connect(link))

    def kill_device(self, serial: str) -> None:
        """Drop the device's TCP connection without DISCONNECT, as a power loss would; no reconnect."""
        link = self._links[serial]

        def kill() -> None:
            link.dead = True
            self._drop(link)

        self.call(serial, lambda _device: kill())

    def is_connected(self, serial: str) -> bool:
        return self._links[serial].connected

    def connected_count(self) -> int:
        return sum(1 for link in list(self._links.values()) if link.connected)

    def stats(self) -> FleetStats:
        """Counters, with the acknowledged-message rate over the last ~10 s."""
        now = time.monotonic()
        self._rate_window.append((now, self.acked))
        while len(self._rate_window) > 2 and now - self._rate_window[0][0] > 10.0:
            self._rate_window.pop(0)
        first_t, first_n = self._rate_window[0]
        rate = (self.acked - first_n) / (now - first_t) if now > first_t else 0.0
        return FleetStats(
            devices=len(self._links),
            connected=self.connected_count(),
            published=self.published,
            acked=self.acked,
            ack_rate_per_s=rate,
            events=self.events,
            commands=self.commands,
            reconnects=self.reconnects,
            sim_time_s=self.clock.now(),
            speed=self.clock.speed,
        )
