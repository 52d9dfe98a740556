"""A saved e-mail (.eml, message/rfc822): its recipients, subject, bodies and attachments.

A mailing to 300 customers leaks through its address headers alone, so From, To, Cc, Bcc
and Reply-To are read, of forwarded messages inside it too. Every leaf part (text and HTML
bodies, attachments) is opened by content, one level deeper, after the stdlib's `email`
package has undone its transfer encoding (base64, quoted-printable).
"""

from __future__ import annotations

import email.parser
import email.policy

from dlp_addon.extract import content
from dlp_addon.extract.budget import Budget
from dlp_addon.model import Segment

_ADDRESS_HEADERS = ("from", "to", "cc", "bcc", "reply-to")


def extract(data: bytes, budget: Budget, where: str, depth: int) -> None:
    if budget.too_deep(depth, where):
        return
    try:
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(data)
        parts = list(message.walk())  # embedded message/rfc822 messages and their parts too
    except RecursionError:
        budget.problem("too_deep", where, "e-mail parts nested too deeply to parse")
        return
    except Exception as e:  # noqa: BLE001 - the parser is lenient; anything it raises is a broken message
        budget.problem("corrupt", where, f"e-mail does not parse ({type(e).__name__})")
        return
    addresses, subjects, asides = [], [], []
    for part in parts:
        for name, value in _headers(part):
            (subjects if name == "subject" else addresses).append(f"{name}: {value}")
        if part.is_multipart():
            # Text before the first and after the last boundary: no mail client shows it.
            asides += [text for text in (part.preamble, part.epilogue) if text and text.strip()]
    budget.add(Segment("\n".join(addresses), f"{where}:headers"))
    budget.add(Segment("\n".join(subjects), f"{where}:subject"))
    budget.add(Segment("\n".join(asides), f"{where}:preamble"))
    number = 0
    for part in parts:
        if part.is_multipart():
            continue
        if budget.out_of_time(where) or not budget.take_part(where):
            return
        number += 1
        try:
            filename = part.get_filename() or ""
            content_type = str(part.get("content-type", ""))
            payload = part.get_payload(decode=True) or b""
        except Exception as e:  # noqa: BLE001 - bad parameters or transfer encodings
            budget.problem("corrupt", f"{where}[{number}]", f"e-mail part does not decode ({type(e).__name__})")
            continue
        place = f"{where}[{number} {filename}]".replace(" ]", "]")
        content.open_content(payload, budget, content_type=content_type, where=place, depth=depth + 1)


def _headers(part) -> list[tuple[str, str]]:
    found = []
    for name, raw in part.raw_items():
        key = name.lower()
        if key not in _ADDRESS_HEADERS and key != "subject":
            continue
        try:
            value = str(part.policy.header_fetch_parse(name, raw))  # encoded words, UTF-8 headers
        except Exception:  # noqa: BLE001 - a header the parser chokes on is still read as sent
            value = raw.encode("ascii", "surrogateescape").decode("utf-8", "replace")
        found.append((key, value))
    return found
