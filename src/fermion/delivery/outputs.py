"""Output configurations and connections (of inputs, and of audiences to audience outputs): validated
against the integration's settings schema, secrets encrypted at rest, and resolved (decrypted, typed)
for the forwarding phase, audience delivery and the sender."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fermion.integrations import registry
from fermion.integrations.secrets import seal, secret_paths, unseal
from fermion.integrations.spec import (
    Integration,
    IntegrationKind,
    MapSettings,
    SettingError,
    SettingsModel,
    validate_settings,
)
from fermion.model.delivery import (
    Connection,
    ConnectionStatus,
    NewConnection,
    NewOutput,
    Output,
    OutputStatus,
)
from fermion.model.tenancy import InputKind
from fermion.ports import ConfigStore, OutputStore, SecretCipher
from fermion.privacy.forwarding import CONSENT_RULES_KEY, rules_errors

log = logging.getLogger(__name__)


class DeliveryError(ValueError):
    """A request the caller can fix: every problem, each naming its field; `status` 400, 404 or 409."""

    def __init__(self, errors: list[SettingError], status: int = 400) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors
        self.status = status

    @classmethod
    def one(cls, field: str, message: str, status: int = 400) -> DeliveryError:
        return cls([SettingError(field, message)], status)


@dataclass(frozen=True)
class Resolved:
    """A connection ready to use: its integration and typed, decrypted settings."""

    connection: Connection
    output: Output
    integration: Integration[Any, Any]
    output_settings: SettingsModel
    connection_settings: SettingsModel
    # The connected input's name ("" for an audience connection): S3 file names start with it. Read
    # with the connections, so a renamed input shows within the route table's ttl.
    input_name: str = ""

    def map_settings(self, now_ms: int, group_key: str) -> MapSettings[Any, Any]:
        """What the integration's `map` gets besides the batches, for one group."""
        return MapSettings(
            output=self.output_settings,
            connection=self.connection_settings,
            workspace_id=self.connection.workspace_id,
            output_id=self.output.id,
            connection_id=self.connection.id,
            now_ms=now_ms,
            group_key=group_key,
            input_name=self.input_name,
        )


def user_status(status: str) -> ConnectionStatus:
    """A status a user may set (active or inactive; `deleting` is the platform's)."""
    if status not in (ConnectionStatus.ACTIVE, ConnectionStatus.INACTIVE):
        raise DeliveryError.one("status", "must be active or inactive")
    return ConnectionStatus(status)


def masked(model: SettingsModel) -> dict[str, Any]:
    """Settings as the API shows them (secrets as ***)."""
    shown: dict[str, Any] = model.model_dump(mode="json")
    return shown


class OutputsService:
    def __init__(self, config: ConfigStore, store: OutputStore, cipher: SecretCipher) -> None:
        self._config = config
        self._store = store
        self._cipher = cipher

    @property
    def store(self) -> OutputStore:
        return self._store

    # -- secrets at rest ---------------------------------------------------------------------

    def seal(self, model: SettingsModel) -> dict[str, Any]:
        stored: dict[str, Any] = model.model_dump(mode="python")
        for name in secret_paths(type(model)):
            if name in stored:
                stored[name] = seal(stored[name], self._cipher.encrypt)
        return stored

    def open_settings(
        self, integration_model: type[SettingsModel], stored: Mapping[str, Any]
    ) -> SettingsModel:
        raw = dict(stored)
        raw.pop(CONSENT_RULES_KEY, None)  # a platform setting, not the integration's
        for name in secret_paths(integration_model):
            if name in raw:
                raw[name] = unseal(raw[name], self._cipher.decrypt)
        result = validate_settings(integration_model, raw)
        if isinstance(result, list):  # stored settings no longer fit the integration (it changed)
            raise DeliveryError(result)
        return result

    # -- outputs -----------------------------------------------------------------------------

    def create_output(
        self, workspace_id: int, integration_id: str, name: str, settings: Mapping[str, Any]
    ) -> tuple[Output, SettingsModel]:
        integration = registry.get(integration_id)
        if integration is None:
            known = ", ".join(i.id for i in registry.all_integrations())
            raise DeliveryError.one("integration", f"unknown integration {integration_id!r} (known: {known})")
        validated = integration.validate_output_settings(settings)
        if isinstance(validated, list):
            raise DeliveryError(validated)
        if self._config.get_workspace(workspace_id) is None:
            raise DeliveryError.one("workspace_id", f"no workspace {workspace_id}", 404)
        new = NewOutput(
            workspace_id=workspace_id,
            integration_id=integration.id,
            name=name or integration.name,
            settings=self.seal(validated),
        )
        return self._store.create_output(new), validated

    def list_outputs(self, workspace_id: int | None = None) -> list[tuple[Output, SettingsModel]]:
        found = []
        for out in self._store.list_outputs(workspace_id):
            integration = registry.get(out.integration_id)
            if integration is not None:
                found.append((out, self.open_settings(integration.settings, out.settings)))
        return found

    def get_output(self, workspace_id: int, output_id: int) -> tuple[Output, SettingsModel]:
        out = self._store.get_output(output_id)
        if out is None or out.workspace_id != workspace_id:
            raise DeliveryError.one("output_id", f"no output {output_id}", 404)
        return out, self.open_settings(registry.require(out.integration_id).settings, out.settings)

    # -- connections -------------------------------------------------------------------------

    def _output_and_status(
        self, workspace_id: int, output_id: int, status: str, errors: list[SettingError]
    ) -> tuple[Output | None, ConnectionStatus]:
        """The workspace's output and the parsed connection status; what is wrong goes on `errors`."""
        out = self._store.get_output(output_id)
        if out is None or out.workspace_id != workspace_id:
            errors.append(SettingError("output_id", f"no output {output_id} in workspace {workspace_id}"))
        elif out.status is OutputStatus.DELETING:
            raise DeliveryError.one("output_id", f"output {output_id} is being deleted", 409)
        try:
            return out, user_status(status)
        except DeliveryError as exc:
            errors.extend(exc.errors)
            return out, ConnectionStatus.INACTIVE

    def create_connection(
        self,
        workspace_id: int,
        input_id: int,
        output_id: int,
        settings: Mapping[str, Any],
        status: str = "active",
        send_development: bool = True,
        send_production: bool = True,
    ) -> tuple[Connection, SettingsModel]:
        errors: list[SettingError] = []
        inp = self._config.get_input(input_id)
        if inp is None or inp.workspace_id != workspace_id:
            errors.append(SettingError("input_id", f"no input {input_id} in workspace {workspace_id}"))
        out, conn_status = self._output_and_status(workspace_id, output_id, status, errors)
        if errors or out is None or inp is None:
            raise DeliveryError(errors)
        integration = registry.require(out.integration_id)
        if integration.kind is IntegrationKind.AUDIENCE:
            raise DeliveryError.one(
                "output_id", f"{integration.name} is an audience output: connect audiences to it"
            )
        platform = "feed" if inp.kind is InputKind.FEED else inp.platform
        if platform not in integration.platforms:
            raise DeliveryError.one(
                "input_id", f"{integration.name} does not accept data from {platform} inputs"
            )
        # Consent forwarding rules are platform settings kept with the connection's settings.
        rules = settings.get(CONSENT_RULES_KEY)
        problems = rules_errors(rules, f"settings.{CONSENT_RULES_KEY}") if rules is not None else []
        own = {k: v for k, v in settings.items() if k != CONSENT_RULES_KEY}
        validated = integration.validate_connection_settings(own)
        if isinstance(validated, list) or problems:
            found = validated if isinstance(validated, list) else []
            raise DeliveryError([*(SettingError(f, m) for f, m in problems), *found])
        stored = self.seal(validated)
        if rules:
            stored[CONSENT_RULES_KEY] = rules
        new = NewConnection(
            workspace_id=workspace_id,
            input_id=input_id,
            output_id=output_id,
            integration_id=integration.id,
            settings=stored,
            status=conn_status,
            send_development=send_development,
            send_production=send_production,
        )
        try:
            return self._store.create_connection(new), validated
        except ValueError as exc:
            raise DeliveryError.one("output_id", str(exc), 409) from None

    def list_connections(self, workspace_id: int | None = None) -> list[tuple[Connection, SettingsModel]]:
        found = []
        for conn in self._store.list_connections(workspace_id):
            integration = registry.get(conn.integration_id)
            if integration is not None:
                found.append((conn, self.open_settings(integration.connection_settings, conn.settings)))
        return found

    def get_connection(self, workspace_id: int, connection_id: int) -> Connection:
        conn = self._store.get_connection(connection_id)
        if conn is None or conn.workspace_id != workspace_id:
            raise DeliveryError.one("connection_id", f"no connection {connection_id}", 404)
        return conn

    def changeable_connection(self, workspace_id: int, connection_id: int) -> Connection:
        """The connection, unless it is being deleted (409): it takes no updates or replays then."""
        conn = self.get_connection(workspace_id, connection_id)
        if conn.status is ConnectionStatus.DELETING:
            raise DeliveryError.one("connection_id", f"connection {connection_id} is being deleted", 409)
        return conn

    # -- audience connections ----------------------------------------------------------------

    def create_audience_connection(
        self,
        workspace_id: int,
        audience_id: int,
        output_id: int,
        settings: Mapping[str, Any],
        status: str = "active",
    ) -> tuple[Connection, SettingsModel]:
        """Connect an audience to an audience output (the audience id is the audiences area's)."""
        errors: list[SettingError] = []
        out, conn_status = self._output_and_status(workspace_id, output_id, status, errors)
        if errors or out is None:
            raise DeliveryError(errors)
        integration = registry.require(out.integration_id)
        if integration.kind is not IntegrationKind.AUDIENCE:
            raise DeliveryError.one("output_id", f"{integration.name} is not an audience output")
        validated = integration.validate_connection_settings(settings)
        if isinstance(validated, list):
            raise DeliveryError(validated)
        new = NewConnection(
            workspace_id=workspace_id,
            input_id=None,
            audience_id=audience_id,
            output_id=output_id,
            integration_id=integration.id,
            settings=self.seal(validated),
            status=conn_status,
        )
        try:
            return self._store.create_connection(new), validated
        except ValueError as exc:
            raise DeliveryError.one("output_id", str(exc), 409) from None

    def list_audience_connections(
        self, workspace_id: int | None, audience_id: int | None = None
    ) -> list[tuple[Connection, SettingsModel]]:
        found = []
        for conn in self._store.list_connections(workspace_id, audience_id=audience_id):
            integration = registry.get(conn.integration_id)
            if conn.audience_id is not None and integration is not None:
                found.append((conn, self.open_settings(integration.connection_settings, conn.settings)))
        return found

    def get_audience_connection(
        self, workspace_id: int, audience_id: int, connection_id: int
    ) -> tuple[Connection, SettingsModel]:
        conn = self._store.get_connection(connection_id)
        if conn is None or conn.workspace_id != workspace_id or conn.audience_id != audience_id:
            raise DeliveryError.one(
                "connection_id", f"no connection {connection_id} of audience {audience_id}", 404
            )
        return conn, self.open_settings(
            registry.require(conn.integration_id).connection_settings, conn.settings
        )

    # -- for forwarding and sending ----------------------------------------------------------

    def stamp(self) -> tuple[int, int]:
        return self._store.config_stamp()

    def finish_deletions(self) -> int:
        """Remove the deleted connections (and outputs) whose queued deliveries are finished."""
        return self._store.finish_deletions()

    def resolve_all(self) -> list[Resolved]:
        """Every connection whose integration is known, with decrypted typed settings."""
        outputs = {o.id: o for o in self._store.list_outputs()}
        input_names = {i.id: i.name for i in self._config.list_inputs()}
        found: list[Resolved] = []
        for conn in self._store.list_connections():
            out = outputs.get(conn.output_id)
            integration = registry.get(conn.integration_id)
            if out is None or integration is None:
                continue
            try:
                output_settings = self.open_settings(integration.settings, out.settings)
                connection_settings = self.open_settings(integration.connection_settings, conn.settings)
            except ValueError as exc:  # DeliveryError, or a secret sealed with another key
                # One unreadable configuration must not stop processing or the other connections.
                log.error("connection %s is skipped: its settings cannot be read (%s)", conn.id, exc)
                continue
            found.append(
                Resolved(
                    connection=conn,
                    output=out,
                    integration=integration.for_output(output_settings),
                    output_settings=output_settings,
                    connection_settings=connection_settings,
                    input_name=input_names.get(conn.input_id, "") if conn.input_id is not None else "",
                )
            )
        return found
