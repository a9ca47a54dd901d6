"""Credential shapes: secrets recognised by their form, in a process that never read them.

The sensor and the triggerer never see the destination credentials, yet AEP may quote them in a
run error. As mature secret scanners do (gitleaks, detect-secrets), each shape is a labelled
pattern or a format with a fixed prefix, so ordinary ids (AEP's are UUIDs and hex) are left as
they are. Only the secret part is replaced: the label stays, so the text still says what failed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

REDACTED = "***"

_B64 = r"A-Za-z0-9+/"
#: A value already redacted, one of our own placeholders (``<secret value>``), or no value at
#: all (``s3SecretKey=None`` says a secret is missing, which the user must be told): left alone.
_NOT_A_VALUE = r"(?![*<]|(?:None|null)(?![A-Za-z0-9_]))"
#: Names whose value is a secret, as JSON keys, form fields or connection-string keys.
_SECRET_KEY = (
    r"[A-Za-z0-9_.\-]{0,40}?(?:secret|secret_?key|secret_?access_?key|password|passwd|passphrase"
    r"|private_?key|account_?key|shared_?access_?key|service_?principal_?key|access_?token"
    r"|refresh_?token|sas_?token|ssh_?key|connection_?string)"
)

#: A PEM private key, whole or cut off (then to the end of the text).
_PEM = re.compile(
    r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)"
)
#: base64 of "-----BEGIN" (an SFTP ``sshKey`` is the PEM in base64).
_BASE64_PEM = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/=]*")
#: Azure connection-string keys and the SAS signature (``sig=`` of a query string).
_AZURE = re.compile(
    r"(?i)(?<![A-Za-z0-9])((?:AccountKey|SharedAccessKey|SharedAccessSignature|sig)=)"
    + _NOT_A_VALUE
    + r"([^;&\s\"'<>]+)"
)
#: An Azure storage account key (64 bytes in base64) on its own.
_AZURE_ACCOUNT_KEY = re.compile(rf"(?<![{_B64}])[{_B64}]{{86}}==(?![{_B64}=])")
_AWS_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
#: 40 base64 characters, not all hex (a SHA-1 is not a secret key).
_AWS_SECRET_VALUE = rf"(?<![{_B64}])(?=[{_B64}]{{0,39}}[G-Zg-z+/])[{_B64}]{{40}}(?![{_B64}=])"
_AWS_SECRET = re.compile(rf"(?i)(?:secret|key)[^\n]{{0,30}}?({_AWS_SECRET_VALUE})")
_AWS_SECRET_NEAR_ID = 200
_BEARER = re.compile(r"(?i)(\bbearer\s+)" + _NOT_A_VALUE + r"([A-Za-z0-9\-._~+/]{16,}=*)")
_AUTHORIZATION = re.compile(
    r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic|digest|token|negotiate|sharedkey|oauth)\s+)?)" + _NOT_A_VALUE + r"([^\s\"',;]{8,})"
)
#: ``key=value`` (a form, a query string, a connection string).
_ASSIGNED = re.compile(rf"(?i)(?<![A-Za-z0-9])({_SECRET_KEY}=)" + _NOT_A_VALUE + r"([^\s&;,\"'<>]+)")
#: ``"key": "value"`` (JSON) or ``key: "value"``.
_QUOTED = re.compile(
    rf"(?i)(?<![A-Za-z0-9])({_SECRET_KEY}\\?[\"']?\s*[:=]\s*\\?[\"'])"
    + _NOT_A_VALUE
    + r"((?:[^\"'\\]|\\[^\"'])+)"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
#: The password of ``scheme://user:password@host``.
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^\s/?#:@]*:)([^\s/?#]*)@")


def _keep_label(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


def _pem(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


def _whole(match: re.Match[str]) -> str:
    return REDACTED


#: Applied in this order: the wider shapes first, so a narrower one never splits a wider one.
#: Each with the words (lower case) a text must hold for the pattern to be tried at all.
_SHAPES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str], tuple[str, ...]], ...] = (
    (_PEM, _pem, ("-----begin",)),
    (_BASE64_PEM, _whole, ("ls0tls1crudjti",)),
    (_URL_PASSWORD, lambda m: m.group(1) + REDACTED + "@", ("://",)),
    (_AUTHORIZATION, _keep_label, ("authorization",)),
    (_BEARER, _keep_label, ("bearer",)),
    (_JWT, _whole, ("eyj",)),
    (_AZURE, _keep_label, ("=",)),
    (_QUOTED, _keep_label, ('"', "'")),
    (_ASSIGNED, _keep_label, ("=",)),
    (_AWS_SECRET, lambda m: m.group(0)[: m.start(1) - m.start(0)] + REDACTED, ("secret", "key")),
    (_AZURE_ACCOUNT_KEY, _whole, ("==",)),
)


def redact_shapes(text: str) -> str:
    """The text with every credential shape's secret part replaced by ``***``."""
    lowered = text.lower()
    for pattern, replace, needles in _SHAPES:
        if any(needle in lowered for needle in needles):
            text = pattern.sub(replace, text)
    return _redact_aws_keys(text)


def _redact_aws_keys(text: str) -> str:
    """An access key id, and a 40-character secret key quoted near one without a label."""
    ids = [m.span() for m in _AWS_KEY_ID.finditer(text)]
    if not ids:
        return text

    def near_an_id(match: re.Match[str]) -> str:
        start, end = match.span()
        near = any(
            start - _AWS_SECRET_NEAR_ID <= i_end and i_start <= end + _AWS_SECRET_NEAR_ID
            for i_start, i_end in ids
        )
        return REDACTED if near else match.group(0)

    text = re.sub(_AWS_SECRET_VALUE, near_an_id, text)
    return _AWS_KEY_ID.sub(REDACTED, text)
