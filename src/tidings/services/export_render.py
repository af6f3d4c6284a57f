"""What an export file holds: JSON Lines or one self-contained HTML page.

Pure functions from messages (as the requester sees them, ``reply_preview``
filled in) to bytes, one chunk at a time: the export job writes the header,
then each chunk as it reads it, then the footer, and never holds more than one
chunk. JSONL is one wire ``Message`` per line, exactly as ``message.history``
returns it. The HTML page has inline CSS, no scripts and no external
resources; every string that comes from a user (text, names, titles, tags,
emoji, locations) is escaped, and times are UTC.
"""

from __future__ import annotations

import functools
import html
import time
from collections.abc import Iterable, Mapping
from typing import Any

from tidings import wire

JSONL_CONTENT_TYPE = "application/x-ndjson"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
FORMATS = ("jsonl", "html")


def content_type(fmt: str) -> str:
    return JSONL_CONTENT_TYPE if fmt == "jsonl" else HTML_CONTENT_TYPE


def file_name(chat_id: int, job_id: int, fmt: str) -> str:
    """The name a download is saved under (Content-Disposition)."""
    return f"tidings-chat-{chat_id}-export-{job_id}.{fmt}"


# -- JSONL

def jsonl(messages: Iterable[wire.Message]) -> bytes:
    return b"".join(wire.encode(m) + b"\n" for m in messages)


# -- who is named in a chunk

def user_ids_in(messages: Iterable[wire.Message]) -> set[int]:
    """Every user an HTML chunk names: senders, recallers, the senders of
    replied-to and forwarded messages, and the users of system messages."""
    found: set[int] = set()
    for m in messages:
        found.add(m.sender_id)
        if m.recalled_by is not None:
            found.add(m.recalled_by)
        if m.reply_preview is not None:
            found.add(m.reply_preview.sender_id)
        if m.forward_from is not None:
            found.add(m.forward_from.sender_id)
        if m.system:
            by = m.system.get("by")
            if isinstance(by, int):
                found.add(by)
            found.update(u for u in m.system.get("user_ids") or () if isinstance(u, int))
    found.discard(0)
    return found


# -- HTML

_CSS = """
body{margin:0;background:#f4f5f7;color:#1d1f23;font:15px/1.45 -apple-system,"Segoe UI",
Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif}
header,main,footer{max-width:46rem;margin:0 auto;padding:0 1rem}
header{padding-top:1.5rem}h1{font-size:1.4rem;margin:0 0 .25rem}
.about{color:#5b616b;font-size:.85rem;margin:0 0 1rem}
h2.day{font-size:.8rem;font-weight:600;color:#5b616b;text-align:center;margin:1.2rem 0 .5rem}
.msg{background:#fff;border-radius:8px;padding:.45rem .7rem;margin:.35rem 0;
box-shadow:0 1px 1px rgba(0,0,0,.06)}
.meta{font-size:.8rem;color:#5b616b}.who{font-weight:600;color:#1a5fb4}
.meta a{color:#8a9099;text-decoration:none;margin-left:.3rem}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin-top:.15rem}
blockquote{margin:.25rem 0;padding:.15rem .5rem;border-left:3px solid #1a5fb4;
background:#eef3fb;font-size:.85rem;color:#3d4249;white-space:pre-wrap;overflow-wrap:anywhere}
blockquote a{color:#1a5fb4;text-decoration:none;font-weight:600}
.fwd{font-size:.8rem;color:#5b616b;font-style:italic}
.marker,.system{font-style:italic;color:#5b616b}
.system{text-align:center;font-size:.85rem;margin:.5rem 0}.system a{color:#5b616b}
.extra{font-size:.8rem;color:#5b616b;margin-top:.2rem}
footer{color:#5b616b;font-size:.85rem;padding:1rem 1rem 2rem}
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


_TWO = tuple(f"{i:02d}" for i in range(60))


@functools.lru_cache(maxsize=1024)
def _day(days: int) -> str:
    t = time.gmtime(days * 86400)
    return f"{t.tm_year:04d}-{_TWO[t.tm_mon]}-{_TWO[t.tm_mday]}"


def _stamp(ts: int) -> tuple[str, str, str]:
    """(``2026-05-01 12:00:00 UTC``, ``2026-05-01T12:00:00Z``, ``2026-05-01``),
    cheaply: this runs for every message of the page."""
    days, secs = divmod(ts, 86400)
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    day = _day(days)
    clock = f"{_TWO[hours]}:{_TWO[minutes]}:{_TWO[seconds]}"
    return f"{day} {clock} UTC", f"{day}T{clock}Z", day


def utc(ts: int) -> str:
    return _stamp(ts)[0]


def utc_day(ts: int) -> str:
    return _stamp(ts)[2]


def _name(names: Mapping[int, str], user_id: object) -> str:
    """A user's escaped name; the server (``by`` null) is "Someone"."""
    if not isinstance(user_id, int) or user_id == 0:
        return "Someone"
    return _esc(names.get(user_id) or f"user {user_id}")


def _names(names: Mapping[int, str], user_ids: object) -> str:
    if not isinstance(user_ids, list) or not user_ids:
        return "nobody"
    shown = [_name(names, u) for u in user_ids]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def system_line(system: Mapping[str, Any], names: Mapping[int, str]) -> str:
    """A system message as one human-readable (escaped HTML) line."""
    action = system.get("action")
    by = _name(names, system.get("by"))
    users = _names(names, system.get("user_ids"))
    if action == "chat.created":
        line = f"{by} created the chat “{_esc(system.get('title') or '')}”"
        return line + (f" with {users}" if system.get("user_ids") else "")
    if action == "member.added":
        return f"{by} added {users}"
    if action == "member.removed":
        return f"{by} removed {users}"
    if action == "member.left":
        return f"{users} left"
    if action == "title.changed":
        return f"{by} changed the title to “{_esc(system.get('title') or '')}”"
    if action == "ttl.changed":
        seconds = system.get("seconds")
        if not isinstance(seconds, int) or seconds <= 0:
            return f"{by} turned off auto-delete"
        return f"{by} set new messages to be deleted after {duration(seconds)}"
    if action == "expiry.set":
        expire_at = system.get("expire_at")
        if not isinstance(expire_at, int) or expire_at <= 0:
            return f"{by} removed the chat's expiry"
        return f"{by} set the chat to expire at {utc(expire_at)}"
    if action == "chat.expired":
        expire_at = system.get("expire_at")
        when = f" at {utc(expire_at)}" if isinstance(expire_at, int) else ""
        return f"This chat expired{when}; it no longer accepts messages"
    if action == "message.pinned":
        msg_id = system.get("msg_id")
        if isinstance(msg_id, int):
            return f'{by} pinned <a href="#m{msg_id}">a message</a>'
        return f"{by} pinned a message"
    if action == "history.cleared":
        return f"{by} cleared the history"
    return f"{by}: {_esc(action)}"


def _reply(m: wire.Message, names: Mapping[int, str]) -> str:
    p = m.reply_preview
    target = f'<a href="#m{m.reply_to}">'
    if p is None:  # the replied-to message is outside what the requester can see
        return f"<blockquote>{target}In reply to an earlier message</a></blockquote>"
    who = _name(names, p.sender_id)
    if p.state == "recalled":
        return f"<blockquote>{target}{who}</a>: a recalled message</blockquote>"
    if p.state == "deleted":
        return f"<blockquote>{target}{who}</a>: a deleted message</blockquote>"
    text = _esc(p.text) if p.text else f"[{_esc(p.kind)}]"
    return f"<blockquote>{target}{who}</a>: {text}</blockquote>"


def _body(m: wire.Message) -> str:
    parts: list[str] = []
    if m.kind == "location" and m.location is not None:
        loc = m.location
        title = f"{_esc(loc.title)} " if loc.title else ""
        parts.append(f"📍 {title}({loc.lat}, {loc.lon})")
    elif m.kind in wire.MEDIA_KINDS:
        parts.append(f"[{_esc(m.kind)}{f' {m.file_id}' if m.file_id is not None else ''}]")
    elif m.kind == "card" and m.card is not None:
        name = m.card.display_name or m.card.username
        parts.append(f"[contact card: {_esc(name)} @{_esc(m.card.username)}]")
    if m.text:
        parts.append(_esc(m.text))
    return f'<div class="text">{chr(10).join(parts)}</div>' if parts else ""


def _extra(m: wire.Message) -> str:
    bits = [f"{_esc(emoji)} {count}" for emoji, count in m.reactions.items()]
    bits += [f"#{_esc(tag)}" for tag in m.tags]
    return f'<div class="extra">{" · ".join(bits)}</div>' if bits else ""


def message_html(m: wire.Message, names: Mapping[int, str]) -> str:
    shown, iso, _ = _stamp(m.date)
    if m.kind == "system":
        line = system_line(m.system or {}, names)
        return (f'<p class="system" id="m{m.msg_id}">{line}'
                f' <time datetime="{iso}">· {shown}</time></p>\n')
    meta = (f'<div class="meta"><span class="who">{_name(names, m.sender_id)}</span> '
            f'<time datetime="{iso}">{shown}</time>'
            f'<a href="#m{m.msg_id}">#{m.msg_id}</a></div>')
    if m.recalled_at is not None:
        by = m.recalled_by if m.recalled_by is not None else m.sender_id
        whose = "" if by == m.sender_id else f" from {_name(names, m.sender_id)}"
        marker = f"{_name(names, by)} recalled a message{whose}"
        return (f'<article class="msg" id="m{m.msg_id}">{meta}'
                f'<div class="marker">{marker}</div></article>\n')
    parts = [meta]
    if m.forward_from is not None:
        f = m.forward_from
        parts.append(f'<div class="fwd">Forwarded from {_name(names, f.sender_id)}'
                     f" · {utc(f.date)}</div>")
    if m.reply_to is not None:
        parts.append(_reply(m, names))
    parts.append(_body(m))
    parts.append(_extra(m))
    return f'<article class="msg" id="m{m.msg_id}">{"".join(parts)}</article>\n'


def html_chunk(messages: Iterable[wire.Message], names: Mapping[int, str],
               last_day: str | None) -> str:
    """Messages as HTML, with a day heading wherever the UTC day changes
    (``last_day``: the day of the message before this chunk, if any)."""
    out: list[str] = []
    for m in messages:
        day = utc_day(m.date)
        if day != last_day:
            out.append(f'<h2 class="day">{day}</h2>\n')
            last_day = day
        out.append(message_html(m, names))
    return "".join(out)


def html_header(title: str, requester: str, now: int, since: int | None, until: int | None
                ) -> str:
    about = [f"Exported by {_esc(requester)} on {utc(now)}"]
    window = ([f"since {utc(since)}"] if since is not None else []) + (
        [f"before {utc(until)}"] if until is not None else [])
    if window:
        about.append("messages " + " and ".join(window))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{_esc(title)}</h1><p class=\"about\">{' · '.join(about)}</p>"
            "</header>\n<main>\n")


def html_footer(count: int) -> str:
    noun = "message" if count == 1 else "messages"
    return (f"</main>\n<footer>End of the export: {count} {noun}. Times are UTC."
            "</footer>\n</body>\n</html>\n")
