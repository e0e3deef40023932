"""A fault-injecting HTTP/1.1 test server, re-exported by `stalwart.testing`."""

from ._faults import Faults
from ._records import FaultKind, FlakyStatistics, RecordedRequest
from ._server import FlakyServer

__all__ = ["FaultKind", "Faults", "FlakyServer", "FlakyStatistics", "RecordedRequest"]
