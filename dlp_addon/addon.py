"""The mitmproxy entry point: `mitmdump -s dlp_addon/addon.py --set dlp_policy=policies/default.yaml`.

A thin script on purpose: mitmproxy imports `-s` files under a synthetic module name and
reloads them on every edit, and a broken edit would leave no DLP addon loaded at all (fail
open). The gateway itself lives in the installed package (`dlp_addon.gateway`), which edits
do not hot-reload and which worker processes and tests can import.
"""

from dlp_addon.gateway import DlpAddon

# A new instance on every (re)load: the previous one has had `done()` and is closed.
addons = [DlpAddon()]
