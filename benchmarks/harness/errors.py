"""The one error of the harness."""


class BenchError(Exception):
    """A protocol error or a broken bound: the run fails with this message."""
