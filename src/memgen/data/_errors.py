"""One exception type for every unreadable/missing data set, so callers can catch it precisely.

It subclasses FileNotFoundError (the memgen CLI dispatcher prints those as one clear line and exits 2)
even for malformed files: from the user's side both mean "the data at this path is not what was expected".
"""

from __future__ import annotations


class DataFormatError(FileNotFoundError):
    """Data missing or malformed; the message names the path and the expected format."""
