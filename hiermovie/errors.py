"""User-facing errors: bad input files, bad options. The CLI prints them as one line and exits 2."""

from pathlib import Path


class HiermovieError(Exception):
    """An error the user can fix (a bad file, a bad option); printed without a traceback."""


class InputFileError(HiermovieError):
    """A file that is missing, unreadable or malformed; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")

    def __reduce__(self):  # picklable with its two arguments (raised in a worker process, re-raised in the parent)
        return type(self), (self.path, self.problem)


class VideoDecodeError(InputFileError):
    """A video that is missing, empty, truncated, too short or not a video."""


class AnnotationError(InputFileError):
    """An annotation file (VidSitu JSON, LVU label file, video list) with a malformed record."""
