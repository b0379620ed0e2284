"""Imports every model family so that each registers itself. Add new families here."""

from mobilekit.models import tsn, vlf, vtn  # noqa: F401
