"""Redaction of secrets from everything minion writes: events, logs, the run store, errors."""

from __future__ import annotations

import base64
import functools
import logging
import os
import re
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "[REDACTED]"

# Known secret shapes. Kept specific so that ordinary code is not mangled.
SECRET_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{10,}"),
    re.compile(r"sk-[A-Za-z0-9]{32,}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"xox[abprs]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"AIza[0-9A-Za-z_\-]{35}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._\-]{20,}"),
]
# What each of SECRET_PATTERNS is, for `secret_hits`; None: redacted, but not refused from a
# commit ("Bearer" followed by a long word is too common in prose and docs for that).
_SHAPE_NAMES = [
    "an Anthropic API key", "an OpenAI-style API key", "a GitHub token", "a GitHub token",
    "a Slack token", "an AWS access key id", "a Google API key", "a private key", None,
]

# Whole words of a variable's name, so that GIT_AUTHOR_NAME or MONKEY_PATH do not count.
_SECRET_ENV_NAME = re.compile(
    r"(?i)(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH)S?(?:_|$)"
)


def _env_secrets() -> tuple[tuple[str, str], ...]:
    """(value, name) of secret-looking environment variables, one name per value."""
    named: dict[str, str] = {}
    for name, value in sorted(os.environ.items()):
        if _SECRET_ENV_NAME.search(name) and len(value) >= 8:
            named.setdefault(value, name)
    return tuple(sorted(named.items(), key=lambda item: (-len(item[0]), item[0])))


def _env_secret_values() -> list[str]:
    """Values of secret-looking environment variables, longest first."""
    return [value for value, _ in _env_secrets()]


def _base64_forms(raw: bytes) -> list[tuple[str, str]]:
    """The value's base64 on its own (padded and not), and the part of it that shows inside
    a longer base64 string at each of the three alignments, standard and urlsafe."""
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        # Only the characters whose six bits all come from the value itself.
        inner = encoded[-(-offset * 8 // 6):(offset + len(raw)) * 8 // 6]
        whole = [encoded, encoded.rstrip("=")] if offset == 0 else []
        for form in [*whole, inner]:
            forms.append((form, "base64"))
            urlsafe = form.translate(str.maketrans("+/", "-_"))
            if urlsafe != form:
                forms.append((urlsafe, "urlsafe base64"))
    return forms


def secret_forms(value: str) -> list[tuple[str, str]]:
    """(form, what it is) for a secret value: itself, its base64, hex and URL encodings."""
    raw = value.encode("utf-8", "surrogateescape")
    forms = [(value, "plain"), *_base64_forms(raw), (raw.hex(), "hex"), (raw.hex().upper(), "hex"),
             (quote(value, safe=""), "URL-encoded"), (quote(value), "URL-encoded"),
             (quote_plus(value), "URL-encoded")]
    seen: dict[str, str] = {}
    for form, kind in forms:
        seen.setdefault(form, kind)  # the plain value first: a URL-safe value quotes as itself
    return list(seen.items())


@functools.lru_cache(maxsize=64)
def _compiled(secrets: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One pattern for every form of every (value, name), longest first, and what each form is.

    Computed once per set of values: redaction runs on every string minion writes."""
    described: dict[str, str] = {}
    for value, name in secrets:
        for form, kind in secret_forms(value):
            described.setdefault(form, f"the value of {name}, {kind}" if name else f"a secret value, {kind}")
    if not described:
        return None, described
    ordered = sorted(described, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))), described


def _secret_set(secrets: list[str] | None) -> tuple[tuple[str, str], ...]:
    if secrets is None:
        return _env_secrets()
    return tuple((value, "") for value in sorted(set(secrets), key=len, reverse=True) if value)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    return _redact_with(text, _compiled(_secret_set(secrets))[0])


def _redact_with(text: str, pattern: re.Pattern[str] | None) -> str:
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for shape in SECRET_PATTERNS:
        text = shape.sub(MASK, text)
    return text


def secret_matches(text: str, secrets: list[str] | None = None) -> dict[str, str]:
    """Each secret found in ``text`` (a secret value in any of its forms, or a known secret
    shape), mapped to a description of it that does not hold it."""
    found: dict[str, str] = {}
    pattern, described = _compiled(_secret_set(secrets))
    if pattern is not None:
        for match in pattern.finditer(text):
            found.setdefault(match.group(), described[match.group()])
    for shape, name in zip(SECRET_PATTERNS, _SHAPE_NAMES, strict=True):
        if name is not None:
            for match in shape.finditer(text):
                found.setdefault(match.group(), f"{name} (a known secret shape)")
    return found


def secret_hits(text: str, secrets: list[str] | None = None) -> list[str]:
    """Descriptions, without the secrets, of the secrets in ``text``: e.g. "the value of
    ANTHROPIC_API_KEY, base64" or "a GitHub token (a known secret shape)"."""
    return list(dict.fromkeys(secret_matches(text, secrets).values()))


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """Redact every string inside a JSON-like value."""
    # The environment is read once per value, not once per string; the forms of its secret
    # values are compiled once per set of values (cached).
    return _redact_value(value, _compiled(_secret_set(secrets))[0])


def _redact_value(value: Any, pattern: re.Pattern[str] | None) -> Any:
    if isinstance(value, str):
        return _redact_with(value, pattern)
    if isinstance(value, dict):
        return {k: _redact_value(v, pattern) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, pattern) for v in value]
    return value


def install_log_redaction() -> None:
    """Redact every log record of the process as it is made (idempotent).

    The SDK and its HTTP client log request URLs, headers and error bodies; a record
    factory catches them all, whichever logger or handler they go through.
    """
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts", False):
        return

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it later as usual
            return record
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:  # handlers print exc_text when it is set, instead of formatting anew
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return record

    # A mark on the function, for the idempotence check above; functions take any attribute.
    redacting_factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_factory)
