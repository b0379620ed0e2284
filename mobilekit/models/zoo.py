"""Imports every model family so that each registers itself. One line per family file."""

from mobilekit.models import vlf  # noqa: F401
from mobilekit.models import vtn  # noqa: F401
from mobilekit.models import tsn  # noqa: F401
from mobilekit.models import vidtr  # noqa: F401
from mobilekit.models import efficientvit  # noqa: F401
from mobilekit.models import tsm  # noqa: F401
from mobilekit.models import x3d  # noqa: F401
from mobilekit.models import movinet  # noqa: F401
from mobilekit.models import vivit  # noqa: F401
from mobilekit.models import timesformer  # noqa: F401
from mobilekit.models import swin3d  # noqa: F401
from mobilekit.models import mvit  # noqa: F401
from mobilekit.models import nonlocal_r50  # noqa: F401
from mobilekit.models import i3d_bert  # noqa: F401
from mobilekit.models import tea  # noqa: F401
from mobilekit.models import imagenet_frames  # noqa: F401
