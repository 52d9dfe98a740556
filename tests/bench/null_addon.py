"""`make bench`'s third gateway: the DLP addon as deployed, but its workers answer at once
without inspecting.

Measured beside plain mitmdump and the real addon, it shows what handing each body to an
inspection process and reading its answer costs mitmdump's own process on its own, apart
from what the inspection costs the workers.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests` is not installed

from dlp_addon import workers  # noqa: E402
from dlp_addon.gateway import DlpAddon  # noqa: E402
from tests.bench.null_inspection import inspect_nothing  # noqa: E402

# The pool sends a request to its workers as a call to this module-level name: the workers
# then import tests.bench.null_inspection (on their path: the repository's root) and call it.
workers._inspect_request = inspect_nothing

addons = [DlpAddon()]
