"""A small client for a running hub's API, used by commands that act on it."""

from __future__ import annotations

from typing import Any

import httpx

from ccr.core.config import Settings
from ccr.core.errors import CcrError
from ccr.core.plain_http import no_ca_store


def api_token(settings: Settings) -> str:
    """The API token: its environment variable, else the running hub's token file."""
    token = settings.secret(settings.hub.api_token_env)
    if token:
        return token
    path = settings.hub.data_dir / "api-token"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


class HubClient:
    """Talks to the hub at [hub] listen with the API token."""

    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self.settings = settings
        self.url = settings.hub.url
        self._client = httpx.Client(
            base_url=self.url, timeout=timeout, verify=no_ca_store(),
            headers={"Authorization": f"Bearer {api_token(settings)}",
                     "X-CCR-Client": "cli"},  # the audit log says the CLI acted
        )

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = self._client.request(method, path, **kwargs)
        except httpx.HTTPError:
            raise CcrError("hub_unreachable", url=self.url) from None
        if resp.status_code == 401:
            raise CcrError("api_unauthorized", env=self.settings.hub.api_token_env)
        try:
            data: dict[str, Any] = resp.json()
        except ValueError:
            raise CcrError("internal", detail=f"hub answered {resp.status_code}") from None
        return data

    def fetch(self, path: str, **kwargs: Any) -> httpx.Response:
        """A GET whose body may be other than JSON (a PNG); errors as for `request`."""
        try:
            resp = self._client.get(path, **kwargs)
        except httpx.HTTPError:
            raise CcrError("hub_unreachable", url=self.url) from None
        if resp.status_code == 401:
            raise CcrError("api_unauthorized", env=self.settings.hub.api_token_env)
        return resp

    def close(self) -> None:
        self._client.close()
