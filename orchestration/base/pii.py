"""The keyed hash that replaces personal data, and where its key lives.

Id numbers identify people, so the warehouse stores only ``HMAC-SHA256(key, id)``: stable across
years and files (a household head can still be followed), useless without the key. The key is
never in the repository: it comes from ``POVERTY_PII_KEY`` (hex) or from the key file
``$XDG_CONFIG_HOME/poverty-warehouse/pii_hmac.key`` (``~/.config`` when unset), which holds the
key as hex.

The key must hold at least 32 bytes, and the key file must be readable by its owner only: an
empty or short key (an HMAC with an empty key is a plain hash anyone can recompute from a list of
id numbers) or a group- or world-readable file is refused with ``PiiKeyError``, whose message
says how to create a good one. When neither the variable nor the file exists, the first run
creates the file (32 random bytes, mode 0600, in a 0700 folder), as the README documents; an
existing file is never rewritten.

The hash is computed inside DuckDB, column at a time, from the HMAC definition
``H((K ^ opad) || H((K ^ ipad) || m))``: the two padded keys are fixed per key, so they are
prepared here once and bound as BLOB parameters.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path

KEY_ENV = "POVERTY_PII_KEY"
MIN_KEY_BYTES = 32
_BLOCK_SIZE = 64  # SHA-256 block size in bytes (RFC 2104)


class PiiKeyError(ValueError):
    """The personal-data key is missing, too short or readable by others (the CLI exits 2)."""


def key_file_path() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "poverty-warehouse" / "pii_hmac.key"


def create_key_command(path: Path | None = None) -> str:
    """A one-line shell command that creates a good key file."""
    path = path or key_file_path()
    return (
        f"(umask 077 && mkdir -p '{path.parent}' && python3 -c "
        f"'import secrets; print(secrets.token_hex({MIN_KEY_BYTES}))' > '{path}')"
    )


def _decode(text: str, origin: str, fix: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as error:
        raise PiiKeyError(f"{origin} must hold the key as hex digits; {fix}") from error
    if len(key) < MIN_KEY_BYTES:
        raise PiiKeyError(
            f"{origin} holds {len(key)} byte(s); the key must hold at least {MIN_KEY_BYTES} "
            f"bytes ({2 * MIN_KEY_BYTES} hex digits); {fix}"
        )
    return key


def require_key(key: bytes) -> bytes:
    """``key`` itself, or ``PiiKeyError`` when it is shorter than ``MIN_KEY_BYTES``."""
    if len(key) < MIN_KEY_BYTES:
        raise PiiKeyError(f"the personal-data key must hold at least {MIN_KEY_BYTES} bytes")
    return key


def read_key_file(path: Path) -> bytes:
    """The key of an existing key file, refused unless owner-only and at least 32 bytes."""
    fix = f"create a new one with: {create_key_command(path)}"
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise PiiKeyError(f"the key file {path} is not a regular file; {fix}")
    if mode & 0o077:
        raise PiiKeyError(
            f"the key file {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
            f"make it owner-only with: chmod 600 '{path}'"
        )
    return _decode(path.read_text(encoding="ascii", errors="replace"), f"the key file {path}", fix)


def load_or_create_pii_key() -> bytes:
    """The HMAC key: ``POVERTY_PII_KEY`` as hex, else the key file (created only when absent)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env is not None:
        return _decode(
            from_env,
            KEY_ENV,
            f"set it to {2 * MIN_KEY_BYTES} random hex digits, e.g. "
            "$(python3 -c 'import secrets; print(secrets.token_hex(32))')",
        )

    path = key_file_path()
    if path.exists() or path.is_symlink():
        return read_key_file(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(MIN_KEY_BYTES)
    # O_EXCL: two processes racing to create the key must not end up with different keys.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key_file(path)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key.hex())
    return key


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer padded keys of HMAC-SHA256 (``K ^ ipad``, ``K ^ opad``)."""
    if len(key) > _BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK_SIZE, b"\0")
    inner = bytes(byte ^ 0x36 for byte in key)
    outer = bytes(byte ^ 0x5C for byte in key)
    return inner, outer


def hmac_sql(
    text_expression: str, inner_param: str = "$hmac_inner", outer_param: str = "$hmac_outer"
) -> str:
    """A DuckDB expression giving the hex HMAC-SHA256 of a VARCHAR expression (NULL stays NULL).

    ``encode()`` turns the text into its UTF-8 bytes; a ``::blob`` cast would instead interpret
    backslash escapes in the text.
    """
    return f"sha256({outer_param} || unhex(sha256({inner_param} || encode({text_expression}))))"


def hmac_text(key: bytes, text: str) -> str:
    """The same hash in Python (for the few cells masked outside DuckDB)."""
    inner, outer = hmac_pads(key)
    digest = hashlib.sha256(inner + text.encode()).digest()
    return hashlib.sha256(outer + digest).hexdigest()
