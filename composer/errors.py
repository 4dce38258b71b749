"""Errors a user can cause. The command line turns each into a one-line message."""


class ComposerError(Exception):
    """Base class of every error composer raises for bad input."""


class ScoreError(ComposerError, ValueError):
    """A score, or a transform's argument, is not valid."""


class ReadError(ComposerError):
    """A file or string could not be read as a score."""


class WriteError(ComposerError):
    """An output could not be written (unknown format, file exists, ...)."""


class TokenizerError(ComposerError, ValueError):
    """A tokenizer file or setting is not valid."""
