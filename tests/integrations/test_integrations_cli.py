"""`fermion integrations list|show`: every integration's output settings and connection settings, each
section saying where it is set (the real command, no database needed)."""

from __future__ import annotations

import json
import subprocess

from fermion.integrations import registry
from support.fermion_proc import fermion_cmd


def fermion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(fermion_cmd(*args), capture_output=True, text=True, timeout=120)


def test_list_and_show_by_level() -> None:
    listed = json.loads(fermion("integrations", "list", "--json").stdout)["integrations"]
    assert [i["id"] for i in listed] == [i.id for i in registry.all_integrations()]
    shown = json.loads(fermion("integrations", "show", "amazon_s3", "--json").stdout)
    assert shown["settings_schema"]["properties"]["access_key_id"]["x-fermion-level"] == "output"
    assert shown["connection_settings_schema"]["properties"]["bucket_name"]["x-fermion-level"] == "connection"
    human = fermion("integrations", "show", "amazon_s3").stdout
    output, connection = human.split("\nConnection settings, set on each connection:\n")
    assert "Output settings, set once on the output (shared by all its connections):" in output
    assert "fermion outputs create" in output and '  region (string; default "us-east-1")' in output
    assert "bucket_name" not in output and "access_key_id" not in connection
    assert "fermion connections create" in connection and "  bucket_name (string; required)" in connection
    assert "server_side_encryption (None | AES256 | aws:kms" in connection
    firehose = fermion("integrations", "show", "amazon_kinesis_firehose").stdout
    assert "fermion audience-connections create" in firehose
    assert "secret_access_key (string; required, secret)" in firehose


def test_unknown_integration() -> None:
    result = fermion("integrations", "show", "nope")
    assert result.returncode == 2 and "unknown integration 'nope' (known: " in result.stderr
