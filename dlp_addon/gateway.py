"""mitmproxy adapter: the only module that knows about flows, options and hooks.

Loaded by the thin script `dlp_addon/addon.py` (mitmdump -s dlp_addon/addon.py ...).

Each outbound request or client WebSocket message is handed, as plain data, to the inspection
workers; the verdict is decided against the sender's history and recorded (incident on disk
first), and only then applied to the flow. mitmproxy forwards a flow when a hook raises, so
every path here ends in an explicit decision: an inspection that fails is an `error` problem,
which the policy blocks by default.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from mitmproxy import ctx, http
from mitmproxy.exceptions import OptionsError

from dlp_addon import gate, websocket_close
from dlp_addon.decide import certain_block, decide
from dlp_addon.engine import coarse_safe_path, merge, probe_request
from dlp_addon.incident import IncidentLog, Origin, build_completion, build_incident, new_incident_id, samples
from dlp_addon.keys import load_or_create_key
from dlp_addon.model import Inspection, Problem, RequestData, Verdict
from dlp_addon.policy import Policy, PolicyError, load_policy
from dlp_addon.respond import BlockNotice, block_response, websocket_close_reason
from dlp_addon.window import WindowStore
from dlp_addon.workers import InspectionPool, default_worker_count

logger = logging.getLogger("dlp")

OPTIONS = {
    "dlp_policy": (str, "policies/default.yaml",
                   "Path of the DLP policy file (YAML; see policies/README.md). A file that does not "
                   "parse or validate stops start-up."),
    "dlp_state_dir": (str, "~/.dlp-gateway",
                      "Directory for the gateway's state: the incident hash key (hmac.key, owner-only), "
                      "the per-user window (window.sqlite3) and, by default, the incident log."),
    "dlp_incidents": (str, "",
                      "Path of the incident log (JSON lines, one per block or log decision). "
                      "Empty means <dlp_state_dir>/incidents.jsonl."),
    "dlp_workers": (int, 0,
                    "Number of inspection worker processes. 0 means one per CPU core."),
    "dlp_monitor": (bool, False,
                    "Monitor mode: turn every block into a log entry (the incident says it would have "
                    "blocked), whatever the policy file says. For a safe roll-out."),
}

_MARKS = {"block": ":no_entry:", "log": ":warning:"}
_GATE_ON_LOOP = 64 * 1024  # bytes: the gate's scans take well under a millisecond at this size
_STREAMING_REFUSED = ("stream_large_bodies is set: streamed bodies are forwarded before they can be inspected. "
                      "Unset it; the DLP policy's limits.max_body_bytes bounds inspection.")


def _streaming(options) -> bool:
    # The option belongs to mitmproxy's proxy server addon, which a bare test master may lack.
    return bool(getattr(options, "stream_large_bodies", None))


@dataclass(frozen=True, slots=True)
class _Runtime:
    """Everything built from the options; replaced as a whole when they change."""

    policy: Policy
    pool: InspectionPool
    store: WindowStore
    incidents: IncidentLog
    incidents_path: Path
    state_dir: Path


class DlpAddon:
    def __init__(self):
        self.runtime: _Runtime | None = None
        # One thread owns the SQLite connection and the incident file: decisions of concurrent
        # flows are recorded one after the other, never interleaved.
        self._recorder = ThreadPoolExecutor(1, thread_name_prefix="dlp-recorder")
        # Full counts of requests already blocked on their start (see _blocked_on_its_start).
        self._completions: set[asyncio.Task] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    def load(self, loader) -> None:
        for name, (kind, default, help_text) in OPTIONS.items():
            loader.add_option(name, kind, default, help_text)

    def configure(self, updated: set[str]) -> None:
        if "stream_large_bodies" in updated and _streaming(ctx.options):
            # Rejected here too, so that setting it at run time (mitmweb, `set`) is rolled back.
            raise OptionsError(_STREAMING_REFUSED)
        if not updated & OPTIONS.keys():
            return
        try:
            runtime = self._build_runtime()
        except PolicyError as e:
            raise OptionsError(f"dlp_policy: {e}") from None
        except (OSError, ValueError) as e:
            raise OptionsError(f"DLP state: {e}") from None
        old, self.runtime = self.runtime, runtime
        if old is not None:
            self._close(old)

    def _build_runtime(self) -> _Runtime:
        options = ctx.options
        if options.dlp_workers < 0:
            raise ValueError("dlp_workers must be 0 (one per core) or more")
        policy = load_policy(options.dlp_policy)
        if options.dlp_monitor:
            policy = replace(policy, monitor=True)
        state_dir = Path(options.dlp_state_dir).expanduser()
        key = load_or_create_key(state_dir / "hmac.key")
        incidents_path = Path(options.dlp_incidents).expanduser() if options.dlp_incidents else state_dir / "incidents.jsonl"
        workers = options.dlp_workers or default_worker_count()
        return _Runtime(policy, InspectionPool(policy, key, workers), WindowStore(state_dir / "window.sqlite3"),
                        IncidentLog(incidents_path), incidents_path, state_dir)

    def running(self) -> None:
        unknown = sorted(name for name in ctx.options.deferred if name.startswith("dlp_"))
        for name in unknown:
            # An ERROR during start-up makes mitmdump exit: a misspelt option must not leave the
            # gateway running on defaults.
            logger.error("Unknown DLP option %r. DLP options are: %s", name, ", ".join(OPTIONS))
        if _streaming(ctx.options):
            logger.error(_STREAMING_REFUSED)
        if self.runtime is None or unknown:
            return
        self.runtime.pool.warm_up()
        self._announce(self.runtime)

    def done(self) -> None:
        if self.runtime is not None:
            self._close(self.runtime)
            self.runtime = None
        self._recorder.shutdown(wait=True)

    def _close(self, runtime: _Runtime) -> None:
        runtime.pool.shutdown()
        # The recorder may still be writing with the old store; close them on the same thread.
        self._recorder.submit(runtime.store.close)
        self._recorder.submit(runtime.incidents.close)

    def _announce(self, runtime: _Runtime) -> None:
        server = ctx.master.addons.get("proxyserver")
        listening = ", ".join(_format_address(a) for a in server.listen_addrs()) if server else "?"
        confdir = Path(ctx.options.confdir).expanduser()
        policy = runtime.policy
        logger.info(
            "DLP gateway ready.\n"
            "  proxy:      %s (set it as the HTTP and HTTPS proxy of browsers and apps)\n"
            "  CA cert:    %s (install it on clients, or browse to http://mitm.it through the proxy)\n"
            "  policy:     %s (%d rules, monitor %s)\n"
            "  incidents:  %s\n"
            "  state:      %s (hmac.key, window.sqlite3)\n"
            "  workers:    %d inspection processes",
            listening, confdir / "mitmproxy-ca-cert.pem", policy.source, len(policy.rules),
            "on" if policy.monitor else "off", runtime.incidents_path, runtime.state_dir, runtime.pool.workers,
        )

    # -- HTTP --------------------------------------------------------------------------------

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        _forget_password(flow)
        runtime = self.runtime
        if runtime is None:
            return
        declared = _declared_length(flow.request)
        limit = runtime.policy.limits.max_body_bytes
        # Exemptions are looked up only for a body this hook acts on: reading the host costs
        # more than all the rest of this hook.
        if declared is not None and declared > limit and not self._exempt(runtime, flow):
            # Decide before mitmproxy buffers a body that will not be inspected anyway.
            problem = Problem("too_large", "body", f"{declared} bytes declared, inspection limit is {limit}")
            inspection = Inspection(problems=(problem,), safe_path=coarse_safe_path(flow.request.path))
            await self._enforce(flow, runtime, inspection, _origin(flow, "http"))
            if flow.response is not None and declared > 4 * limit:
                # Answering still makes mitmproxy read the whole body into memory; for bodies this
                # large, resetting the connection keeps the gateway up for everyone else.
                flow.response = None
                flow.kill()

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or "dlp" in flow.metadata:
            return
        runtime = self.runtime
        host = flow.request.pretty_host  # parsed from the Host header on every read: read once
        if runtime is None or self._exempt(runtime, flow, host):
            return
        request = _request_data(flow, host)
        # Small requests the gate can pass on their bytes need no worker; larger ones are
        # gated in the worker, off the event loop.
        if len(request.body or b"") <= _GATE_ON_LOOP and gate.quiet(request, runtime.policy.limits.max_body_bytes):
            return
        if await self._blocked_on_its_start(flow, runtime, request):
            return
        inspection = await _inspect(runtime.pool.inspect, request)
        if not _nothing_to_decide(inspection):  # most requests: no origin built, no decision awaited
            await self._enforce(flow, runtime, inspection, _origin(flow, "http", host))

    async def _blocked_on_its_start(self, flow: http.HTTPFlow, runtime: _Runtime, request: RequestData) -> bool:
        """Answer a large upload from its first kilobytes when they already decide a block;
        the whole body is then counted in the background and the incident completed."""
        head = probe_request(request)
        if head is None:
            return False
        partial = await _inspect(runtime.pool.inspect_start, head)
        if not certain_block(partial, runtime.policy):
            return False
        incident_id = await self._enforce(flow, runtime, partial, _origin(flow, "http"), partial=True)
        if incident_id and incident_id != "unrecorded":
            self._complete_later(runtime, request, incident_id, partial)
        return True

    def _complete_later(self, runtime: _Runtime, request: RequestData, incident_id: str, partial: Inspection) -> None:
        # Only the count holds on to the body, so the record of a 100 MiB list (400,000
        # hashes, tens of megabytes of JSON) is built once the body is freed, not beside it.
        pending = [request]

        async def complete() -> None:
            # A full count that ran out of time still holds what the start held.
            counted = await _count_whole(runtime.pool, pending.pop())
            inspection = merge(partial, replace(counted, safe_path=counted.safe_path or partial.safe_path))
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._recorder, _record_completion, runtime, incident_id, inspection)
            except Exception as e:  # noqa: BLE001 - the block stands; only the final count is lost
                logger.warning("DLP: could not complete incident %s (%s)", incident_id, type(e).__name__)

        task = asyncio.ensure_future(complete())
        self._completions.add(task)
        task.add_done_callback(self._completions.discard)

    # -- WebSocket ---------------------------------------------------------------------------

    async def websocket_message(self, flow: http.HTTPFlow) -> None:
        message = flow.websocket.messages[-1]
        if flow.metadata.get("dlp_websocket_closed") and message.from_client:
            # Closing for a violation: nothing more leaves, and the empty message that wakes
            # the close (see websocket_close) is not forwarded either.
            message.drop()
            return
        if not message.from_client or message.injected:
            return
        runtime = self.runtime
        if runtime is None or self._exempt(runtime, flow):
            return
        try:
            inspection = await runtime.pool.inspect_message(message.content, message.is_text)
        except Exception as e:  # noqa: BLE001 - a hook that raises lets the message through
            inspection = _failed_inspection(e)
        inspection = replace(inspection, safe_path=coarse_safe_path(flow.request.path))
        verdict, incident_id = await self._decide(flow, runtime, inspection, _origin(flow, "websocket"))
        if verdict.action == "block":
            message.drop()
            flow.metadata["dlp_websocket_closed"] = True
            websocket_close.close_from_client(flow, 1008, websocket_close_reason(incident_id))

    # -- deciding ----------------------------------------------------------------------------

    async def _enforce(self, flow: http.HTTPFlow, runtime: _Runtime, inspection: Inspection, origin: Origin,
                       partial: bool = False) -> str:
        """Decide, record and apply; the incident id ("" when nothing was recorded)."""
        verdict, incident_id = await self._decide(flow, runtime, inspection, origin, partial)
        if verdict.action != "block":
            return incident_id
        try:
            status, headers, body = block_response(
                _notice(incident_id, verdict, inspection, runtime.policy, flow.request.pretty_host),
                flow.request.headers.items(multi=True),
            )
        except Exception as e:  # noqa: BLE001 - the block stands even if its page cannot be made
            logger.error("DLP: could not build the block page (%s); answering plainly", type(e).__name__)
            status, headers, body = 403, {"Content-Type": "text/plain; charset=utf-8",
                                          "X-DLP-Incident": incident_id}, b"Blocked by the DLP gateway.\n"
        flow.response = http.Response.make(status, body, headers)
        return incident_id

    async def _decide(self, flow, runtime: _Runtime, inspection: Inspection, origin: Origin,
                      partial: bool = False) -> tuple[Verdict, str]:
        if _nothing_to_decide(inspection):
            return Verdict("allow"), ""
        now = time.time()
        loop = asyncio.get_running_loop()
        try:
            verdict, incident_id = await loop.run_in_executor(
                self._recorder, _decide_and_record, runtime, inspection, origin, now, partial)
        except Exception as e:  # noqa: BLE001 - no record, no pass
            # The exception's message could quote content: only its kind is logged.
            logger.error("DLP: could not record a decision (%s); blocking", type(e).__name__)
            verdict, incident_id = Verdict("block", "record_unavailable"), "unrecorded"
        if verdict.recorded:
            _annotate(flow, verdict, incident_id, inspection)
            _log_decision(verdict, incident_id, inspection, origin)
        return verdict, incident_id

    def _exempt(self, runtime: _Runtime, flow: http.HTTPFlow, host: str | None = None) -> bool:
        exemptions = runtime.policy.exemptions
        host = flow.request.pretty_host if host is None else host
        return exemptions.destination_exempt(host) or exemptions.user_exempt(_user(flow)[0])



async def _inspect(run, request: RequestData) -> Inspection:
    """`run` (one of the pool's inspections) on the request; a failure is an `error` problem."""
    try:
        inspection = await run(request)
    except Exception as e:  # noqa: BLE001 - a hook that raises makes mitmproxy forward the request
        inspection = _failed_inspection(e)
    if not inspection.safe_path:
        inspection = replace(inspection, safe_path=coarse_safe_path(request.path))
    return inspection


async def _count_whole(pool: InspectionPool, request: RequestData) -> Inspection:
    """The whole body counted in the background: window by window where it is one free text
    (see `full_count`), in one piece otherwise."""
    try:
        counted = await pool.count_in_windows(request)
    except Exception as e:  # noqa: BLE001 - the block stands; the count records what failed
        counted = _failed_inspection(e)
    if counted is None:
        counted = await _inspect(pool.inspect_in_background, request)
    return counted


def _nothing_to_decide(inspection: Inspection) -> bool:
    """Nothing found and nothing left uninspected: the request passes and nothing is recorded."""
    return not inspection.evidence and not inspection.problems


def _failed_inspection(error: Exception) -> Inspection:
    logger.error("DLP: inspection failed (%s); the policy decides as for an error", type(error).__name__)
    return Inspection(problems=(Problem("error", "gateway", type(error).__name__),), safe_path="")


def _record_completion(runtime: _Runtime, incident_id: str, inspection: Inspection) -> None:
    runtime.incidents.write(build_completion(incident_id, time.time(), inspection))


def _decide_and_record(runtime: _Runtime, inspection: Inspection, origin: Origin, now: float,
                       partial: bool = False) -> tuple[Verdict, str]:
    """Runs on the recorder thread: history, decision, history update and incident, in order."""
    verdict = runtime.store.decide_and_record(origin.user, inspection, runtime.policy, now, decide)
    if not verdict.recorded:
        return verdict, ""
    incident_id = new_incident_id(now)
    runtime.incidents.write(build_incident(incident_id, now, origin, inspection, verdict,
                                           runtime.policy.source, runtime.policy.monitor, partial))
    return verdict, incident_id


def _notice(incident_id: str, verdict: Verdict, inspection: Inspection, policy: Policy, host: str) -> BlockNotice:
    scope = next((h.scope for h in verdict.hits if h.rule == verdict.rule), "request")
    reason = {"request": "bulk_request", "user": "user_window", "uninspectable": "uninspectable"}.get(scope, "bulk_request")
    window_rule = next((r for r in policy.user_rules if r.name == verdict.rule), None)
    return BlockNotice(
        incident_id=incident_id,
        reason=reason,
        counts=inspection.counts(),
        samples=tuple(samples(inspection)),
        contact=policy.block_page.contact,
        organisation=policy.block_page.organisation,
        window_count=verdict.window.get(verdict.rule, 0),
        window_seconds=window_rule.window_seconds if window_rule else 0,
        uninspectable=tuple(dict.fromkeys(p.sub_reason for p in inspection.problems)),
        destination=host,
    )


def _annotate(flow: http.HTTPFlow, verdict: Verdict, incident_id: str, inspection: Inspection) -> None:
    """For mitmweb users: a mark, a comment and machine-readable metadata, never identifiers."""
    counts = inspection.counts()
    flow.metadata["dlp"] = {"action": verdict.action, "rule": verdict.rule, "incident": incident_id,
                            "counts": counts, "would_block": verdict.would_block,
                            "uninspected": [p.sub_reason for p in inspection.problems]}
    flow.marked = _MARKS[verdict.action]
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "content not inspectable"
    flow.comment = f"DLP {verdict.action}{' (monitor: would block)' if verdict.would_block else ''}: " \
                   f"{summary}; rule {verdict.rule}; incident {incident_id}"


def _log_decision(verdict: Verdict, incident_id: str, inspection: Inspection, origin: Origin) -> None:
    counts = inspection.counts()
    level = logging.WARNING if verdict.action == "block" else logging.INFO
    logger.log(level, "DLP %s%s rule=%s user=%s host=%s emails=%d phones=%d uninspected=%s incident=%s",
               verdict.action, " (would block)" if verdict.would_block else "", verdict.rule, origin.user,
               origin.host, counts.get("email", 0), counts.get("phone", 0),
               ",".join(p.sub_reason for p in inspection.problems) or "-", incident_id)


def _forget_password(flow: http.HTTPFlow) -> None:
    """proxyauth keeps (user, password) in the flow, and flow files would save it."""
    auth = flow.metadata.get("proxyauth")
    if auth and len(auth) > 1 and auth[1]:
        flow.metadata["proxyauth"] = (auth[0], "")


def _user(flow: http.HTTPFlow) -> tuple[str, str]:
    auth = flow.metadata.get("proxyauth")
    if auth and auth[0]:
        return str(auth[0]), "proxyauth"
    peer = flow.client_conn.peername
    return (str(peer[0]) if peer else "unknown"), "client_address"


def _origin(flow: http.HTTPFlow, channel: str, host: str | None = None) -> Origin:
    user, source = _user(flow)
    peer = flow.client_conn.peername
    return Origin(
        user=user, user_source=source, client=_format_address(peer) if peer else "",
        channel=channel, scheme=flow.request.scheme, host=flow.request.pretty_host if host is None else host,
        port=flow.request.port, method=flow.request.method, flow_id=flow.id,
    )


def _request_data(flow: http.HTTPFlow, host: str | None = None) -> RequestData:
    request = flow.request
    return RequestData(
        method=request.method,
        host=request.pretty_host if host is None else host,
        path=request.path,
        headers=tuple((k, v) for k, v in request.headers.items(multi=True)),
        body=request.raw_content,
    )


def _declared_length(request: http.Request) -> int | None:
    try:
        return int(request.headers.get("content-length", ""))
    except ValueError:
        return None


def _format_address(address: Sequence) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

