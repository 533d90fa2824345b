"""Every error alliance-qa raises on purpose.

Each message says what was wrong, with the real value, and what to do about it.
The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``;
the web chat shows it as a reply.
"""

from __future__ import annotations


class AllianceQAError(Exception):
    """Base class: a problem the user can fix, reported in one line."""

    exit_code = 1


class QuestionError(AllianceQAError):
    """The question cannot be answered as given (empty, too long, no words)."""

    exit_code = 2


class CorpusError(AllianceQAError):
    """The corpus folder or one of its files cannot be used."""

    exit_code = 3


class IndexStateError(AllianceQAError):
    """The index on disk is missing, damaged, or does not match the settings."""

    exit_code = 4


class BuildError(AllianceQAError):
    """A build failed; the previous index is left in place."""

    exit_code = 5


class BuildLockedError(BuildError):
    """Another build holds the lock on the index folder."""

    exit_code = 6


class ModelError(AllianceQAError):
    """The embedding model cannot be loaded offline."""

    exit_code = 7
