"""Input authentication with a small in-memory cache, so the hot path does no database read."""

from __future__ import annotations

import asyncio
import time

from fermion.model.tenancy import Input, Workspace
from fermion.ports import ConfigStore
from fermion.services.credentials import secret_matches

_MAX_VERIFIED = 100_000


class InputAuthenticator:
    def __init__(self, config: ConfigStore, workspace_ttl_s: float = 5.0) -> None:
        self._config = config
        self._workspace_ttl_s = workspace_ttl_s
        self._verified: dict[tuple[str, str], Input] = {}
        self._workspaces: dict[int, tuple[float, Workspace | None]] = {}

    async def authenticate(self, key: str, secret: str) -> Input | None:
        """The active input whose key and secret these are, else None."""
        cached = self._verified.get((key, secret))
        if cached is not None:
            return cached
        inp = await asyncio.to_thread(self._config.get_input_by_key, key)
        if inp is None or not inp.active or not secret_matches(secret, inp.secret_hash):
            return None
        if len(self._verified) >= _MAX_VERIFIED:
            self._verified.clear()
        self._verified[(key, secret)] = inp
        return inp

    def cached_workspace(self, workspace_id: int) -> tuple[bool, Workspace | None]:
        """(True, workspace) while the cached copy is fresh; (False, None) when it must be re-read."""
        cached = self._workspaces.get(workspace_id)
        if cached is not None and time.monotonic() - cached[0] < self._workspace_ttl_s:
            return True, cached[1]
        return False, None

    async def workspace(self, workspace_id: int) -> Workspace | None:
        """The workspace, re-read every few seconds so CLI changes (rate limits) take effect."""
        fresh, ws = self.cached_workspace(workspace_id)
        if fresh:
            return ws
        ws = await asyncio.to_thread(self._config.get_workspace, workspace_id)
        self._workspaces[workspace_id] = (time.monotonic(), ws)
        return ws
