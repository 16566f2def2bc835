"""Secret settings: a `Secret` is a credential that is never printed (`***` in repr, str and JSON) and
is encrypted at rest by the platform. A settings field holds secrets when it is typed `Secret`,
`Secret | None` or `dict[str, Secret]` (e.g. the webhook's extra headers, which carry API keys: their
names are shown, their values are not).

Pure: sealing and opening take the cipher's functions, so this module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, get_args, get_origin

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

if TYPE_CHECKING:
    from pydantic import BaseModel

MASK = "***"
ENCRYPTED = "$enc"  # a sealed secret at rest: {"$enc": "<ciphertext>"}


class Secret:
    """A credential: never printed (repr, str and JSON show `***`); `reveal()` is the only way out.

    Stored encrypted at rest by the platform (see fermion.delivery.outputs); integrations call
    `reveal()` only while building a request.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    @classmethod
    def _validate(cls, value: Any) -> Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return cls(value)
        raise ValueError("must be a string")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda _v: MASK, when_used="json"),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _schema: core_schema.CoreSchema, _handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "password", "writeOnly": True}


def _holds_secrets(annotation: Any) -> bool:
    if annotation is Secret:
        return True
    if get_origin(annotation) is dict:
        return get_args(annotation)[1:] == (Secret,)
    return any(_holds_secrets(arg) for arg in get_args(annotation))  # X | None


def secret_paths(model: type[BaseModel]) -> list[str]:
    """Top-level fields holding secrets (`Secret`, `dict[str, Secret]`, either or None): what the
    platform encrypts at rest and keeps when an update leaves them out or sends them masked."""
    return [name for name, info in model.model_fields.items() if _holds_secrets(info.annotation)]


def seal(value: Any, encrypt: Callable[[str], str]) -> Any:
    """A secret field's value as stored: each Secret replaced by {"$enc": ciphertext}."""
    if isinstance(value, Secret):
        return {ENCRYPTED: encrypt(value.reveal())}
    if isinstance(value, dict):
        return {k: seal(v, encrypt) for k, v in value.items()}
    return value


def unseal(value: Any, decrypt: Callable[[str], str]) -> Any:
    """The stored value with each sealed secret decrypted (a plain value, as older versions stored
    webhook headers, passes unchanged and is sealed on the next save)."""
    if isinstance(value, dict):
        if set(value) == {ENCRYPTED} and isinstance(value[ENCRYPTED], str):
            return Secret(decrypt(value[ENCRYPTED]))
        return {k: unseal(v, decrypt) for k, v in value.items()}
    return value


def keep_secrets(model: type[BaseModel], raw: Mapping[str, Any], current: BaseModel) -> dict[str, Any]:
    """New settings with each secret the caller left out, or sent masked (`***`, as the API shows it),
    replaced by the stored one. For a `dict[str, Secret]` field, per key: a key sent masked keeps its
    stored value, a key left out is removed (send the field without it), and leaving the whole field
    out keeps it all."""
    merged = dict(raw)
    for name in secret_paths(model):
        stored = getattr(current, name, None)
        sent = merged.get(name, MASK)
        if sent == MASK:
            if stored is None:
                merged.pop(name, None)  # nothing stored: as if it were not sent
            else:
                merged[name] = stored
        elif isinstance(sent, dict) and isinstance(stored, dict):
            merged[name] = {k: stored[k] if v == MASK and k in stored else v for k, v in sent.items()}
    return merged
