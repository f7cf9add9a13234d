"""The keyed hash that replaces citizen id numbers, and where its key lives.

Id numbers identify people, so the warehouse stores only ``HMAC-SHA256(key, id)``: stable across
years and files (a household head can still be followed), useless without the key. The key is
never in the repository: it comes from ``POVERTY_PII_KEY`` (hex) or from a key file created once
with owner-only permissions under ``$XDG_CONFIG_HOME/poverty-warehouse/`` (``~/.config`` when
unset). Losing the key only means future hashes differ from past ones.

The hash is computed inside DuckDB, column at a time, from the HMAC definition
``H((K ^ opad) || H((K ^ ipad) || m))``: the two padded keys are fixed per key, so they are
prepared here once and bound as BLOB parameters.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

KEY_ENV = "POVERTY_PII_KEY"
_BLOCK_SIZE = 64  # SHA-256 block size in bytes (RFC 2104)


def key_file_path() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "poverty-warehouse" / "pii_hmac.key"


def load_or_create_pii_key() -> bytes:
    """The HMAC key: ``POVERTY_PII_KEY`` as hex, else the key file, created on first use."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        try:
            key = bytes.fromhex(from_env.strip())
        except ValueError as error:
            raise ValueError(f"{KEY_ENV} must be a hex string") from error
        if len(key) < 16:
            raise ValueError(f"{KEY_ENV} must hold at least 16 bytes (32 hex digits)")
        return key

    path = key_file_path()
    if path.exists():
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    key = secrets.token_bytes(32)
    # O_EXCL: two processes racing to create the key must not end up with different keys.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
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
