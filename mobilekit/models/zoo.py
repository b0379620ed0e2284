"""Imports every model family so that each registers itself. One line per family file."""

from mobilekit.models import vlf  # noqa: F401
from mobilekit.models import vtn  # noqa: F401
from mobilekit.models import tsn  # noqa: F401
