"""Extract: a request (or a file, or a WebSocket message) in, decoded text segments out.

    RequestData -> URL path and query, then the body:
        Content-Encoding undone (encoding) -> kind told by type and content (sniff) ->
        one extractor per format (form, multipart, json_doc, text, binary), nesting through
        `open_content` again for parts and embedded documents.

Nothing here raises for bad input: what cannot be opened is a `Problem` in the result, with
where it was and why, and the policy decides what that means.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlp_addon.extract import text
from dlp_addon.extract.budget import Budget
from dlp_addon.extract.content import open_body
from dlp_addon.extract.url import extract_url
from dlp_addon.model import Problem, RequestData, Segment
from dlp_addon.policy import Limits


@dataclass(frozen=True, slots=True)
class Extraction:
    segments: tuple[Segment, ...]
    problems: tuple[Problem, ...]
    bytes_inspected: int  # characters of decoded text handed to the detectors


def _result(budget: Budget) -> Extraction:
    return Extraction(tuple(budget.segments), tuple(budget.problems), budget.bytes_inspected)


def extract_request(request: RequestData, limits: Limits, deadline: float | None = None) -> Extraction:
    budget = Budget(limits, deadline)
    extract_url(request.path, budget)
    if request.body:
        open_body(request.body, budget, content_type=request.header("content-type"),
                  content_encoding=request.header("content-encoding"), where="body")
    return _result(budget)


def extract_content(content: bytes, limits: Limits, *, content_type: str = "", content_encoding: str = "",
                    where: str = "body", deadline: float | None = None) -> Extraction:
    """A body on its own: a file given to `dlp scan`, a WebSocket message."""
    budget = Budget(limits, deadline)
    if content:
        open_body(content, budget, content_type=content_type, content_encoding=content_encoding, where=where)
    return _result(budget)


def extract_window(data: bytes, codec: str, limits: Limits, *, mime: str, deadline: float | None = None) -> Extraction:
    """One window of a large free-text body (see `full_count`), read as `open_content` reads
    the whole body: decoded with the body's charset, then as free text."""
    budget = Budget(limits, deadline)
    text.extract(data.decode(codec, errors="replace"), budget, mime=mime, where="body")
    return _result(budget)
