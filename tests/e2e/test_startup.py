"""A misconfigured gateway must refuse to start, not run on defaults or stream uninspected."""

from __future__ import annotations

import pytest

from tests.e2e.support import DEFAULT_POLICY, REPO, finish_exit, run_until_exit

pytestmark = pytest.mark.e2e

BAD_POLICY = """\
version: 1
rules:
  - {name: bulk-in-one-request, threshold: 10, action: block}
  - {name: several, threshold: 0, action: log}
"""


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """Start the three broken gateways side by side (each one spends its time importing)."""
    base = tmp_path_factory.mktemp("refusals")
    bad_policy = base / "zero-threshold.yaml"
    bad_policy.write_text(BAD_POLICY)
    cases = {
        "bad_policy": (bad_policy, ()),
        "misspelt_option": (DEFAULT_POLICY, ("--set", "dlp_polcy=x")),
        "streaming": (DEFAULT_POLICY, ("--set", "stream_large_bodies=1k")),
    }
    started = {}
    for name, (policy, extra) in cases.items():
        (base / name).mkdir()
        started[name] = run_until_exit(base / name, policy, *extra)
    results = {name: finish_exit(proc) for name, proc in started.items()}
    results["bad_policy_path"] = str(bad_policy)
    return results


def test_policy_that_fails_validation_stops_start_up(refusals):
    code, output = refusals["bad_policy"]
    assert code is not None, "mitmdump kept running with an invalid policy"
    assert code != 0
    assert refusals["bad_policy_path"] in output, output[-2000:]
    assert "rules[1].threshold" in output, output[-2000:]
    assert "DLP gateway ready." not in output


def test_misspelt_option_stops_start_up(refusals):
    code, output = refusals["misspelt_option"]
    assert code is not None, "mitmdump kept running with a misspelt dlp_ option"
    assert code != 0
    assert "dlp_polcy" in output, output[-2000:]
    assert "DLP gateway ready." not in output


def test_stream_large_bodies_stops_start_up(refusals):
    code, output = refusals["streaming"]
    assert code is not None, "mitmdump kept running with stream_large_bodies set"
    assert code != 0
    assert "stream_large_bodies" in output, output[-2000:]
    assert "DLP gateway ready." not in output


def test_addon_file_loads_the_way_mitmdump_loads_scripts():
    # mitmdump imports `-s` files under a private module name that is not in sys.modules; the
    # entry point must load that way, not only as `import dlp_addon.addon`.
    from mitmproxy.addons.script import load_script

    module = load_script(str(REPO / "dlp_addon" / "addon.py"))
    assert module is not None, "mitmproxy could not load dlp_addon/addon.py as a script (see the log above)"
    assert getattr(module, "addons", None), "the script defines no addons"
