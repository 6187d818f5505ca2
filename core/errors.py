"""The exceptions the engine raises: each one is a single line a user can act on."""


class LimelightError(Exception):
    """A failure caused by the user's input, with a one-line message.

    When a file is involved the message starts with its path, so a batch run that
    fails on one file out of a hundred says which one.
    """

    def __init__(self, reason: str, *, path=None):
        # A file name or a file's own text may hold newlines and terminal escapes: shown escaped,
        # the message stays one line and cannot rewrite the user's terminal.
        self.reason = one_line(reason)
        self.path = None if path is None else one_line(str(path))
        super().__init__(f"{self.path}: {self.reason}" if self.path else self.reason)


def one_line(text: str) -> str:
    """`text` with every control character written as its escape (a newline as \\n)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


class ImageError(LimelightError):
    """An image file that cannot be read or used."""


class ModelError(LimelightError):
    """A model file that cannot be loaded, or a model that is not an image classifier."""


class UntrustedModelError(ModelError):
    """A model file that would run code when loaded, and that the user has not trusted."""


class LabelsError(LimelightError):
    """A labels file that cannot be read or does not match the model."""


class ExplanationError(LimelightError):
    """Parameters or inputs that cannot give an explanation."""


class ReportError(LimelightError):
    """A report that cannot be written or read back."""


class Cancelled(Exception):
    """The user cancelled a long computation; not an error."""


class DatasetError(LimelightError):
    """A labelled image folder that cannot be evaluated, or whose class folders do not fit the model."""
