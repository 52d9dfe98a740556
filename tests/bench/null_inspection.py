"""What the bench's no-inspection gateway's workers do with a request: nothing.

Imported by the inspection workers of `null_addon.py` (they unpickle calls to it by name),
so it imports nothing of mitmproxy.
"""

from dlp_addon.engine import coarse_safe_path
from dlp_addon.model import Inspection, RequestData


def inspect_nothing(request: RequestData) -> Inspection:
    # As the engine answers a body with nothing in it, safe path included.
    return Inspection(bytes_inspected=len(request.body or b""), safe_path=coarse_safe_path(request.path))
