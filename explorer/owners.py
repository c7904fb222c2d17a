"""Who may stop or cancel a training job: each browser session is an owner (a random token kept in
its session state); a run keeps only a hash of it. When the server's environment sets
EXPLORER_ADMIN_TOKEN, only a job's owner or whoever types that token may stop or cancel it;
without one, anyone may (a single-user laptop).
"""

from __future__ import annotations

import hashlib
import hmac
import os

ADMIN_ENV = "EXPLORER_ADMIN_TOKEN"


def owner_id(token: str | None) -> str | None:
    """What a run keeps of its owner's token: a hash (the token itself stays in the session)."""
    if not token:
        return None
    return hashlib.sha256(token.encode()).hexdigest()[:24]


def admin_configured() -> bool:
    """Whether the server protects jobs with an admin token (EXPLORER_ADMIN_TOKEN)."""
    return bool(os.environ.get(ADMIN_ENV))


def is_admin(admin: str | None) -> bool:
    """Whether `admin` is the server's admin token (False when none is configured)."""
    expected = os.environ.get(ADMIN_ENV)
    return bool(expected and admin and hmac.compare_digest(admin.encode(), expected.encode()))
