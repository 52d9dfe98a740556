"""The gateway's HMAC key: generated on first run, readable by its owner only."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

KEY_BYTES = 32


def load_or_create_key(path: str | Path) -> bytes:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_existing(path)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(KEY_BYTES))
    logger.info("generated a new incident hash key at %s", path)
    return path.read_bytes()


def _read_existing(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Whoever reads the key can confirm guesses against the hashes in incidents.
        logger.warning("hash key %s was readable by others (mode %o); restricting it to its owner", path, mode)
        path.chmod(0o600)
    key = path.read_bytes()
    if len(key) < 16:
        raise ValueError(f"{path}: hash key is too short ({len(key)} bytes); remove it to generate a new one")
    return key
