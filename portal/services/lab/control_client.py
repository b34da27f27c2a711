"""A client for the simulator's loopback control API (docs/device-lab.md), as the lab console uses it.

Every failure becomes a LabUnavailable or LabRefused with a sentence a lab user can act on; nothing
from the transport reaches a page.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from portal.services.errors import DomainError

TIMEOUT_S = 10.0


class LabUnavailable(DomainError):
    """No simulated fleet answers at the configured address."""


class LabRefused(DomainError):
    """The fleet answered with an error (a bad value, an unknown serial)."""


class LabControl:
    """Calls to one fleet's control API; ``base_url`` is ``UPSCONNECT_LAB_CONTROL_URL``."""

    def __init__(self, base_url: str | None, timeout_s: float = TIMEOUT_S) -> None:
        self.base_url = (base_url or "").rstrip("/")
        self.timeout_s = timeout_s

    @property
    def configured(self) -> bool:
        return bool(self.base_url)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if not self.configured:
            raise LabUnavailable(
                "No simulated fleet is connected: set UPSCONNECT_LAB_CONTROL_URL (make run does it for you)."
            )
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error") or ""
            except (ValueError, AttributeError):
                message = ""
            raise LabRefused(message[:300] or f"The device lab said no ({error.code}).") from None
        except (OSError, ValueError):
            raise LabUnavailable(
                f"The simulated fleet does not answer at {self.base_url}; is the lab running?"
            ) from None

    # -- reading
    def devices(self) -> list[dict[str, Any]]:
        return self._call("GET", "/devices")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")

    def runs(self) -> list[dict[str, Any]]:
        return self._call("GET", "/runs")

    def scenario_files(self) -> dict[str, str]:
        return self._call("GET", "/scenarios")

    def published(self, serial: str) -> dict[str, Any]:
        return self._call("GET", f"/devices/{urllib.request.quote(serial, safe='')}/published")

    # -- acting
    def add_devices(self, count: int, seed: int, model: str | None) -> list[dict[str, Any]]:
        return self._call("POST", "/devices", {"count": count, "seed": seed, "model": model})["added"]

    def remove(self, serial: str) -> None:
        self._call("POST", f"/devices/{urllib.request.quote(serial, safe='')}/remove")

    def start_run(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/runs", body)

    def stop_run(self, run_id: int) -> dict[str, Any]:
        return self._call("POST", f"/runs/{run_id}/stop")

    def press(self, serial: str, action: str) -> dict[str, Any]:
        return self._call("POST", f"/devices/{urllib.request.quote(serial, safe='')}/lcd", {"action": action})

    def set_speed(self, speed: float) -> None:
        self._call("POST", "/speed", {"speed": speed})

    def advance(self, seconds: float) -> float:
        return self._call("POST", "/advance", {"seconds": seconds})["sim_time_s"]
