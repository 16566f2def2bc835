"""Every registered integration has mapping snapshot tests over the shared fixtures: one snapshot per
fixture under tests/integrations/snapshots/<id>/ (written and compared by support.outgoing's
check_snapshot), and no snapshot of a fixture that is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from fermion.integrations import registry
from support.batches import all_fixture_names

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("integration", registry.all_integrations(), ids=lambda i: i.id)
def test_every_integration_has_a_snapshot_per_fixture(integration: registry.AnyIntegration) -> None:
    folder = SNAPSHOTS / integration.id
    found = sorted(p.stem for p in folder.glob("*.json"))
    assert found == all_fixture_names(), (
        f"{integration.id}: snapshots in {folder} differ from the fixtures: add a test that maps every "
        "fixture through check_snapshot (see test_heap.py) and run it with FERMION_UPDATE_SNAPSHOTS=1"
    )
    # ...and a test module here that maps every fixture with the integration's module and compares.
    module = integration.map.__module__
    testers = [
        path.name
        for path in Path(__file__).parent.glob("test_*.py")
        if all(part in path.read_text() for part in (module, "all_fixture_names", "check_snapshot"))
    ]
    assert testers, f"{integration.id}: no test module maps the fixtures with {module} into snapshots"


def test_snapshot_folders_belong_to_registered_integrations() -> None:
    known = {i.id for i in registry.all_integrations()}
    assert {p.name for p in SNAPSHOTS.iterdir() if p.is_dir()} <= known
