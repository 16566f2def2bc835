"""Secret settings: which fields hold secrets, sealing and opening (encrypted at rest), masking, and
keeping stored secrets when an update leaves them out or sends them masked."""

from __future__ import annotations

from fermion.integrations.secrets import MASK, Secret, keep_secrets, seal, secret_paths, unseal
from fermion.integrations.webhook import WebhookSettings


def encrypt(value: str) -> str:
    return "enc:" + value[::-1]


def decrypt(value: str) -> str:
    return value.removeprefix("enc:")[::-1]


def webhook(**extra: object) -> WebhookSettings:
    return WebhookSettings.model_validate({"url": "https://partner.example/hook", **extra})


def test_webhook_headers_are_secrets() -> None:
    assert secret_paths(WebhookSettings) == ["signing_secret", "headers"]
    cfg = webhook(headers={"X-Api-Key": "k1"}, signing_secret="s1")
    shown = cfg.model_dump(mode="json")
    assert shown["headers"] == {"X-Api-Key": MASK} and shown["signing_secret"] == MASK
    assert "k1" not in repr(cfg) and "k1" not in str(cfg)
    assert cfg.headers["X-Api-Key"].reveal() == "k1"


def test_seal_and_unseal_round_trip_and_read_plain_values() -> None:
    cfg = webhook(headers={"X-Api-Key": "k1", "X-Two": "k2"}, signing_secret="s1")
    stored = cfg.model_dump(mode="python")
    sealed = {name: seal(stored[name], encrypt) for name in secret_paths(WebhookSettings)}
    assert "k1" not in str(sealed) and "s1" not in str(sealed)
    assert sealed["headers"]["X-Api-Key"] == {"$enc": encrypt("k1")}
    opened = {name: unseal(value, decrypt) for name, value in sealed.items()}
    assert opened["headers"] == {"X-Api-Key": Secret("k1"), "X-Two": Secret("k2")}
    assert unseal({"X-Api-Key": "plain"}, decrypt) == {"X-Api-Key": "plain"}  # as older versions stored


def test_keep_secrets_per_header() -> None:
    current = webhook(headers={"X-Api-Key": "k1", "X-Old": "o"}, signing_secret="s1")
    base = {"url": "https://partner.example/hook"}
    kept = keep_secrets(WebhookSettings, base, current)  # left out: all kept
    assert kept["headers"] == current.headers and kept["signing_secret"] == Secret("s1")
    masked = keep_secrets(WebhookSettings, {**base, "headers": {"X-Api-Key": MASK, "X-New": "n"}}, current)
    assert masked["headers"] == {"X-Api-Key": Secret("k1"), "X-New": "n"}  # X-Old removed
    assert keep_secrets(WebhookSettings, {**base, "headers": MASK}, current)["headers"] == current.headers
    assert keep_secrets(WebhookSettings, {**base, "headers": {}}, current)["headers"] == {}
    unknown = keep_secrets(WebhookSettings, {**base, "headers": {"X-None": MASK}}, current)
    assert unknown["headers"] == {"X-None": MASK}  # nothing stored under that name: taken as given
