"""The integration registry: the built-in list plus the `fermion.integrations` entry-point group, read
through importlib.metadata from a real (temporary) installed distribution on sys.path; duplicate ids
are an error naming both declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from fermion.integrations import registry
from fermion.integrations.spec import Integration

PARTNER = """
from fermion.integrations.spec import Integration, IntegrationKind, NoSettings


def map_batches(batches, settings):
    return []


INTEGRATION = Integration(
    id={id!r},
    name="Acme",
    kind=IntegrationKind.EVENT,
    settings=NoSettings,
    connection_settings=NoSettings,
    map=map_batches,
)
"""


def install(
    root: Path, monkeypatch: pytest.MonkeyPatch, dist: str, entries: dict[str, str], modules: dict[str, str]
) -> None:
    """A distribution as pip leaves it in site-packages: its modules and `<dist>-1.0.dist-info`."""
    for module, integration_id in modules.items():
        (root / f"{module}.py").write_text(PARTNER.format(id=integration_id))
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {value}" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{lines}\n")
    monkeypatch.syspath_prepend(str(root))


def test_built_ins_are_the_explicit_list() -> None:
    found = registry.load(installed=[])
    assert sorted(found) == ["amazon_kinesis_firehose", "amazon_s3", "heap", "webhook"]
    assert found["heap"].source == "fermion.integrations.heap"
    assert {i.id for i in registry.all_integrations()} >= set(found)


def test_an_installed_package_adds_an_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(
        tmp_path,
        monkeypatch,
        "acme_fermion",
        {"acme": "acme_fermion_object:INTEGRATION", "acme_mod": "acme_fermion_module"},
        {"acme_fermion_object": "acme", "acme_fermion_module": "acme_mod"},
    )
    found = registry.load()
    assert {"webhook", "amazon_s3", "heap", "amazon_kinesis_firehose", "acme", "acme_mod"} <= set(found)
    acme = found["acme"]
    assert isinstance(acme.integration, Integration) and acme.integration.name == "Acme"
    assert "acme_fermion 1.0" in acme.source and "'acme_fermion_object:INTEGRATION'" in acme.source
    assert found["acme_mod"].integration.id == "acme_mod"  # the entry point names the module


def test_a_duplicate_id_names_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(
        tmp_path,
        monkeypatch,
        "dup_fermion",
        {"dup": "dup_fermion_webhook:INTEGRATION"},
        {"dup_fermion_webhook": "webhook"},
    )
    with pytest.raises(ValueError) as caught:
        registry.load()
    message = str(caught.value)
    assert "'webhook' is declared twice" in message
    assert "by fermion.integrations.webhook" in message
    assert "entry point 'dup' = 'dup_fermion_webhook:INTEGRATION' of dup_fermion 1.0" in message


def test_an_entry_point_that_is_no_integration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad_fermion_thing.py").write_text("INTEGRATION = 42\nOTHER = 'x'\n")
    install(tmp_path, monkeypatch, "bad_fermion", {"bad": "bad_fermion_thing:OTHER"}, {})
    with pytest.raises(
        TypeError, match=r"entry point 'bad' = 'bad_fermion_thing:OTHER' .* not an Integration"
    ):
        registry.load()


def test_two_built_in_modules_with_one_id() -> None:
    heap = r"fermion\.integrations\.heap"
    with pytest.raises(ValueError, match=f"by {heap} and by {heap}"):
        registry.load(["fermion.integrations.heap", "fermion.integrations.heap"], installed=[])
