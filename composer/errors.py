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


class GenerationError(ComposerError):
    """A generation request cannot be met (contradictory options, a seed the model cannot continue, ...)."""


class FormError(GenerationError):
    """A form (``--form AABB``) that cannot be read or does not fit the other settings: a usage error on the command line."""
