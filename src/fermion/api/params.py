"""Integer types for path, query and body parameters: every id and timestamp the stores keep is a
signed 64-bit integer, so a larger one is refused with 400 naming the parameter instead of reaching the
database driver (which cannot bind it and fails with a 500)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from fermion.model.events_common import INT64_MAX, INT64_MIN

# Any 64-bit signed integer: ids (workspace_id, output_id, ...), MPIDs.
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
# Times in milliseconds since the epoch, counts and cursors.
NonNegative64 = Annotated[int, Field(ge=0, le=INT64_MAX)]

__all__ = ["INT64_MAX", "INT64_MIN", "Int64", "NonNegative64"]
