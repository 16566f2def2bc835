"""CA Seeding API (spec 5.5): validate a request whole, resolve each user, store the seeds at once.

A request succeeds or fails as a whole; errors name the CA (`"<CA name>: <error>"`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from fermion.calculated.definition import InvalidDefinition, canonical_type, parse_definition
from fermion.calculated.seeds import InvalidSeed, parse_cutoff, seed_part
from fermion.calculated.state import Part
from fermion.model.identity_names import lookup_type
from fermion.model.tenancy import Input, Workspace
from fermion.ports import IdentityLookup
from fermion.ports.calculated import CalculatedStore
from fermion.services.ingest import Outcome, Rejected, _basic_credentials

MAX_USERS = 100


class _Invalid(Exception):
    pass


def _user_count(body: bytes, bulk: bool) -> int:
    """How many users a request seeds, for the rate limit (1 when it cannot tell: apply reports why)."""
    if not bulk:
        return 1
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 1
    return max(1, len(parsed)) if isinstance(parsed, list) else 1


def _bad(message: str) -> Outcome:
    return Outcome(400, [{"code": "BAD_REQUEST", "message": message}])


class SeedingService:
    def __init__(
        self,
        authenticate: Callable[[str, str], Any],  # async (key, secret) -> Input | None
        workspace_of: Callable[[int], Any],  # async workspace id -> Workspace | None
        store: CalculatedStore,
        identities: IdentityLookup,
        ingest_as: Callable[[Input, bytes, str | None, str], Awaitable[Outcome]],
        take_rate: Callable[[Workspace, int, dict[str, str]], Outcome | None] | None = None,
    ) -> None:
        self._authenticate = authenticate
        self._workspace_of = workspace_of
        self._store = store
        self._identities = identities
        self._ingest_as = ingest_as
        self._take_rate = take_rate  # the Events API's workspace rate limit, which seeding shares

    async def authorize(self, authorization: str | None) -> tuple[Input, Workspace] | Outcome:
        """The input and its workspace for Basic key:secret credentials, or the 401/403 outcome."""
        try:
            key, secret = _basic_credentials(authorization)
        except Rejected as rejected:
            return rejected.outcome
        inp: Input | None = await self._authenticate(key, secret)
        if inp is None:
            return Outcome.error(403, "FORBIDDEN", "The API key or secret is not valid.")
        ws: Workspace | None = await self._workspace_of(inp.workspace_id)
        if ws is None:
            return Outcome.error(403, "FORBIDDEN", "The input's workspace no longer exists.")
        return inp, ws

    async def seed(self, inp: Input, ws: Workspace, body: bytes, bulk: bool, source_ip: str) -> Outcome:
        """Stores the seeds, then sends each user's `user_attributes` as a batch through the input."""
        if self._take_rate is not None and ws.rate_limit_per_s > 0:
            # Each seeded user counts as one batch (their user attribute batches count again when sent).
            refused = self._take_rate(ws, _user_count(body, bulk), {})
            if refused is not None:
                return refused
        outcome, batches = await asyncio.to_thread(self.apply, ws, body, bulk)
        for batch in batches if outcome.status == 202 else ():
            sent = await self._ingest_as(inp, batch, None, source_ip)
            if sent.status != 202:
                return sent
        return outcome

    def apply(self, ws: Workspace, body: bytes, bulk: bool) -> tuple[Outcome, list[bytes]]:
        """Validates every user's seeds and user attributes, then stores the seeds in one transaction;
        returns the user attribute batches to send."""
        try:
            parsed = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError as exc:
            return _bad(f"Invalid JSON: {exc}"), []
        users = parsed if bulk else [parsed]
        if not isinstance(users, list) or not users or not all(isinstance(u, dict) for u in users):
            return _bad("The body must be " + ("an array of objects." if bulk else "an object.")), []
        if len(users) > MAX_USERS:
            return _bad(f"At most {MAX_USERS} users per request."), []
        cas = {r.name: r for r in self._store.find(ws.id)}
        seeds: list[tuple[int, int, Part, int]] = []
        batches: list[bytes] = []
        try:
            for user in users:
                mpid = self._mpid(ws, user)
                seeds.extend(
                    (ca_id, mpid, part, cutoff) for ca_id, part, cutoff in self._user_seeds(user, cas)
                )
                batch = _attributes_batch(user, mpid)
                if batch is not None:
                    batches.append(batch)
        except _Invalid as exc:
            return _bad(str(exc)), []
        self._store.set_seeds(ws.id, seeds)
        return Outcome(202), batches

    def _mpid(self, ws: Workspace, user: dict[str, Any]) -> int:
        raw = user.get("mpid")
        if raw is not None:
            try:
                mpid = int(raw)
            except (TypeError, ValueError):
                raise _Invalid("mpid: must be a 64-bit integer.") from None
            if isinstance(raw, bool) or not -(2**63) <= mpid < 2**63:
                raise _Invalid("mpid: must be a 64-bit integer.")
            return mpid
        identities = user.get("identities")
        if not isinstance(identities, dict) or not identities:
            raise _Invalid("mpid or identities is required.")
        for id_type, value in identities.items():
            name = lookup_type(str(id_type))
            if name is None:
                raise _Invalid(f"identities: unknown identity type {id_type!r}.")
            if not isinstance(value, str) or not value:
                raise _Invalid(f"identities.{id_type}: must be a non-empty string.")
            found = self._identities.find_mpid(ws.org_id, name, value)
            if found is not None:
                return found
        raise _Invalid("identities: no user has these identities.")

    def _user_seeds(self, user: dict[str, Any], cas: dict[str, Any]) -> list[tuple[int, Part, int]]:
        section = user.get("calculated_attributes")
        items = section.get("workspace") if isinstance(section, dict) else None
        if not isinstance(items, list) or not items:
            raise _Invalid("calculated_attributes.workspace: a list of seeds is required.")
        out: list[tuple[int, Part, int]] = []
        for item in items:
            if not isinstance(item, dict):
                raise _Invalid("calculated_attributes.workspace: each seed must be an object.")
            name = item.get("attribute_name")
            if not isinstance(name, str) or not name:
                raise _Invalid("attribute_name: is required.")
            record = cas.get(name)
            if record is None:
                raise _Invalid(f"{name}: no such calculated attribute.")
            try:
                definition = parse_definition(record.active or record.draft)
            except InvalidDefinition:
                raise _Invalid(f"{name}: the calculated attribute has no valid definition.") from None
            given = item.get("calculation_type")
            if given is not None and canonical_type(str(given)) != definition.calculation_type:
                raise _Invalid(
                    f"{name}: calculation_type {given!r} does not match {definition.calculation_type!r}."
                )
            raw_cutoff = item.get("cutoff_date", item.get("cuttoff_date"))
            try:
                if raw_cutoff is None:
                    if definition.seeding_cutoff_ms is None:
                        raise InvalidSeed("cutoff_date is required.")
                    cutoff = definition.seeding_cutoff_ms
                else:
                    cutoff = parse_cutoff(raw_cutoff)
                part = seed_part(definition.calculation_type, item.get("seed"), cutoff)
            except InvalidSeed as exc:
                raise _Invalid(f"{name}: {exc}") from None
            out.append((record.id, part, cutoff))
        return out


def _attributes_batch(user: dict[str, Any], mpid: int) -> bytes | None:
    """The user's `user_attributes.workspace` list as an Events API batch (None when there are none)."""
    section = user.get("user_attributes")
    if section is None:
        return None
    items = section.get("workspace") if isinstance(section, dict) else None
    if not isinstance(items, list):
        raise _Invalid("user_attributes.workspace: must be a list.")
    attributes: dict[str, Any] = {}
    for item in items:
        name = item.get("attribute_name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise _Invalid("user_attributes.workspace: each needs an attribute_name.")
        value = item.get("attribute_value")
        if isinstance(value, dict) or (
            isinstance(value, list) and not all(isinstance(v, str) for v in value)
        ):
            raise _Invalid(f"user_attributes.{name}: must be a string, number, boolean or list of strings.")
        attributes[name] = value
    environment = user.get("environment") or "production"
    if environment not in ("development", "production"):
        raise _Invalid("environment: must be development or production.")
    if not attributes:
        return None
    return orjson.dumps(
        {"mpid": str(mpid), "environment": environment, "user_attributes": attributes, "events": []}
    )
