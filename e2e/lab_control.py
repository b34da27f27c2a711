"""A small client for the fleet's loopback control API (docs/device-lab.md), as a lab user would call it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class LabControlError(RuntimeError):
    pass


class LabControl:
    def __init__(self, base_url: str, timeout_s: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            raise LabControlError(
                f"{method} {path}: {error.code} {error.read().decode(errors='replace')}"
            ) from None
        return json.loads(text) if text else None

    def devices(self) -> list[dict[str, Any]]:
        return self._call("GET", "/devices")

    def lcd(self, serial: str) -> dict[str, Any]:
        """What the device's own display shows: status, registration code, firmware..."""
        return self._call("GET", f"/devices/{serial}")

    def power(self, serial: str, kind: str, **details: Any) -> Any:
        return self._call("POST", f"/devices/{serial}/power", {"kind": kind, **details})

    def blackout(self, serial: str, duration_s: int = 3600, severity: int = 1) -> Any:
        return self.power(serial, "blackout", duration_s=duration_s, severity=severity)

    def restore(self, serial: str) -> Any:
        return self.power(serial, "restore")

    def press(self, serial: str, action: str, value: Any = None) -> Any:
        body: dict[str, Any] = {"action": action}
        if value is not None:
            body["value"] = value
        return self._call("POST", f"/devices/{serial}/lcd", body)

    def load(self, serial: str, **change: Any) -> Any:
        return self._call("POST", f"/devices/{serial}/load", change)

    def speed(self, speed: float) -> Any:
        return self._call("POST", "/speed", {"speed": speed})

    def advance(self, seconds: float) -> Any:
        return self._call("POST", "/advance", {"seconds": seconds})

    def stats(self) -> Any:
        return self._call("GET", "/stats")
