"""The lab's mail server: an SMTP server (aiosmtpd) that keeps every message as an .eml file.

`make run` starts one and points UPSCONNECT_MAIL_SERVER / UPSCONNECT_MAIL_PORT at it, so invitations,
share codes and activation codes really travel over SMTP; the lab Outbox page reads the files.
"""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class _Store:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        partial = self.folder / f".{name}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(self.folder / name)  # readers never see half a message
        return "250 Message accepted for delivery"


class LabMailServer:
    """SMTP on host:port (port 0: a free one) storing messages in `folder` as <UTC time>-<id>.eml."""

    def __init__(self, folder: str | Path, port: int = 0, host: str = "127.0.0.1") -> None:
        self.folder = Path(folder)
        self.host = host
        self.port = port or _free_port(host)
        self._controller: Controller | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_Store(self.folder), hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> LabMailServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
