"""The one base class of every error a person can cause (a bad upload, URL, settings file, ...).

Pages show a `UserError` as one sentence; anything else is a bug and surfaces as an exception, so
the tests fail on it.
"""

from __future__ import annotations


class UserError(ValueError):
    """Something a person did or can fix: the message says what happened and what to do."""
