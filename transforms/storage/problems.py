"""The one exception storage raises for an input it cannot read: it carries the error kind."""


class InputProblem(Exception):
    """An input that cannot be read at all, with its named error kind."""

    def __init__(self, error_kind: str, message: str):
        super().__init__(message)
        self.error_kind = error_kind
