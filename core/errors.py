"""The project's own exception types: ``core`` raises them, pages and the CLI explain them."""

from __future__ import annotations


class StockPilotError(Exception):
    """Base class for errors a planner can act on; ``str(error)`` is the message to show."""


class DataError(StockPilotError):
    """An upload cannot be imported at all (the REJECT outcome). The message says what and how to fix it."""
