"""Project exceptions.

Every error the CLI reports to a user derives from :class:`StreamerError`. Each
subclass also inherits the matching builtin so callers can catch either
(``except ValueError`` keeps working for a bad config value).
"""

from __future__ import annotations


class StreamerError(Exception):
    """Base of every error streamer raises on purpose."""

    #: process exit code the CLI uses for this error
    exit_code: int = 2


class InputError(StreamerError, ValueError):
    """The input is missing, unreadable, or not a video we can decode."""


class ConfigError(StreamerError, ValueError):
    """The configuration has an unknown key, a wrong type or a bad value."""


class OutputError(StreamerError, OSError):
    """The output location cannot be written."""


class StreamError(StreamerError, RuntimeError):
    """The stream broke after decoding started; frames decoded so far are kept."""

    exit_code = 1


class MissingDependencyError(StreamerError, ImportError):
    """An optional package a backend needs is not installed."""
