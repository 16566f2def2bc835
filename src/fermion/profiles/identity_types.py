"""Identity type names for the Profile API modules: `model.identity_names`, where they are defined.

Kept only for the importers in `api/` (activity.py, profile_api.py), which import from here until
they are moved to `fermion.model.identity_names`.
"""

from __future__ import annotations

from fermion.model.identity_names import lookup_type, user_identity_name

__all__ = ["lookup_type", "user_identity_name"]
