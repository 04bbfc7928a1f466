"""Controller errors, classified by what to do next."""

from __future__ import annotations


class ControllerError(Exception):
    """A problem the user must fix (bad overlay, missing tool); the run stops."""


class TemporaryError(ControllerError):
    """A problem that may pass (a busy git lock, a rejected push); worth retrying later."""
