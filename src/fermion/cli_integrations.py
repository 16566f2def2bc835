"""`fermion integrations`: the integrations this installation knows (built in or added by an installed
package) and their settings, each marked with its level: output settings go on `fermion outputs
create/update`, connection settings on `fermion connections create/update`. Needs no database."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from fermion.integrations import registry

integrations_app = typer.Typer(
    no_args_is_help=True,
    help="Integrations and their settings: output settings (on the output) and connection settings "
    "(on each connection).",
)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
OUTPUT_HOW = "fermion outputs create --workspace W --integration {id} --setting name=value"
CONNECTION_HOW = {
    "audience": "fermion audience-connections create --workspace W --audience A --output O "
    "--setting name=value",
    "event": "fermion connections create --workspace W --input I --output O --setting name=value",
}


def _setting_line(name: str, prop: dict[str, Any], required: bool, defs: dict[str, Any]) -> str:
    options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
    kinds = []
    for option in options:
        shown = defs.get(str(option.get("$ref", "")).rsplit("/", 1)[-1], option)
        values = shown.get("enum")
        kinds.append(" | ".join(map(str, values)) if values else str(shown.get("type", "value")))
    extra = "required" if required else "optional"
    if "default" in prop and prop["default"] is not None:
        extra = f"default {json.dumps(prop['default'])}"
    if any(o.get("writeOnly") for o in options):
        extra += ", secret"
    return f"  {name} ({'/'.join(kinds)}; {extra}): {prop.get('description', '')}".rstrip()


def _human(described: dict[str, Any]) -> str:
    lines = [f"{described['id']} - {described['name']} ({described['kind']}): {described['description']}"]
    sections = (
        ("Output settings", "settings_schema", OUTPUT_HOW),
        ("Connection settings", "connection_settings_schema", CONNECTION_HOW.get(described["kind"], "")),
    )
    for title, key, how in sections:
        schema = described[key]
        props: dict[str, Any] = schema.get("properties", {})
        lines += ["", f"{title}, {schema['description'][len(title) + 2 :].rstrip('.')}:"]
        if how:
            lines.append(f"  ({how.format(id=described['id'])})")
        required = set(schema.get("required", []))
        lines += [_setting_line(n, p, n in required, schema.get("$defs", {})) for n, p in props.items()]
        if not props:
            lines.append("  (none)")
    return "\n".join(lines)


@integrations_app.command("list")
def integrations_list(as_json: Json = False) -> None:
    """List the integrations (built in and installed through the fermion.integrations entry points)."""
    described = [i.describe() for i in registry.all_integrations()]
    if as_json:
        typer.echo(json.dumps({"integrations": described}, indent=2))
        return
    typer.echo("\n".join(f"{d['id']}\t{d['kind']}\t{d['name']}" for d in described))


@integrations_app.command("show")
def integrations_show(
    integration: Annotated[str, typer.Argument(help="Integration id, e.g. amazon_s3.")],
    as_json: Json = False,
) -> None:
    """An integration's output settings and connection settings, with types, defaults and help."""
    found = registry.get(integration)
    if found is None:
        known = ", ".join(i.id for i in registry.all_integrations())
        typer.echo(f"error: integration: unknown integration {integration!r} (known: {known})", err=True)
        raise typer.Exit(2)
    described = found.describe()
    typer.echo(json.dumps(described, indent=2) if as_json else _human(described))
