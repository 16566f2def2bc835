"""`fermion inbound dead-letters list|replay`: batches accepted (202) whose processing failed too often,
listed, and put back into the inbound log for the workers (works in either mode, server running or not)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from fermion.scaleout import open_inbound, start_inbound
from fermion.services.inbound_dead_letters import MAX_LIST, dead_letter_json
from fermion.services.metrics import MeteredInboundLog, Metrics
from fermion.settings import from_env

T = TypeVar("T")

inbound_app = typer.Typer(no_args_is_help=True, help="The inbound log: batches accepted, not yet processed.")
dead_letters_app = typer.Typer(
    no_args_is_help=True,
    help="Batches whose processing failed its maximum attempts (replay them once fixed).",
)
inbound_app.add_typer(dead_letters_app, name="dead-letters")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where Fermion keeps its files.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Workspace = Annotated[int | None, typer.Option("--workspace", help="Only this workspace's (default: all).")]


def _with_log(data_dir: Path | None, work: Callable[[MeteredInboundLog], Awaitable[T]]) -> T:
    async def run() -> T:
        inbound = open_inbound(from_env(data_dir=data_dir), Metrics("cli"))
        try:
            await start_inbound(inbound)
            return await work(inbound)
        finally:
            await inbound.close()

    return asyncio.run(run())


def _emit(as_json: bool, value: Any, human: str) -> None:
    typer.echo(json.dumps(value, indent=2) if as_json else human)


@dead_letters_app.command("list")
def dead_letters_list(
    workspace: Workspace = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIST)] = 100,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Dead letters, oldest first: id, batch, attempts and the last error."""

    async def work(inbound: MeteredInboundLog) -> dict[str, Any]:
        letters = await inbound.dead_letters(workspace, limit)
        summary = await inbound.dead_letter_summary(workspace)
        return {"count": summary.count, "dead_letters": [dead_letter_json(d) for d in letters]}

    found = _with_log(data_dir, work)
    lines = [
        f"{d['id']}\tworkspace {d['workspace_id']}\tbatch {d['batch_id']}\t{d['attempts']} attempts"
        f"\t{d['reason']}"
        for d in found["dead_letters"]
    ]
    _emit(as_json, found, "\n".join(lines) if lines else "no dead letters")


@dead_letters_app.command("replay")
def dead_letters_replay(
    ids: Annotated[
        list[int] | None, typer.Option("--id", help="A dead letter's id (repeatable; default all).")
    ] = None,
    workspace: Workspace = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Put dead letters back into the inbound log (attempts reset): all, or those with --id."""
    replayed = _with_log(data_dir, lambda inbound: inbound.replay_dead_letters(workspace, ids or None))
    _emit(as_json, {"replayed": replayed}, f"replayed {replayed} dead letter(s)")
