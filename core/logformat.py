"""The log formatter of the console handler: ``logging.Formatter``'s text, cheaper per line.

Every request writes a log line (``core.middleware.RequestLogMiddleware``), and the
standard formatter renders the date and time of each with its own ``strftime``. Here the
``YYYY-MM-DD HH:MM:SS`` part is rendered once per second and reused; the milliseconds are
added per line as the standard formatter adds them, so every line reads exactly as before.
"""

from __future__ import annotations

import logging
import time
from typing import cast

# The console handler's format (config/settings.py, LOGGING["formatters"]["plain"]).
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class Formatter(logging.Formatter):
    _second: tuple[int, str] | None = None  # (whole second, its rendering), set per instance

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt or not self.default_msec_format:
            return super().formatTime(record, datefmt)
        return self.asctime(record.created, record.msecs)

    def asctime(self, created: float, msecs: float) -> str:
        """``%(asctime)s`` of a record created at ``created`` (``time.time()``), ``msecs`` its milliseconds.

        With ``default_msec_format`` set (``formatTime`` and ``core.middleware.shipped_console``
        check it before calling this). ``core.middleware.write_shipped`` writes the request line
        with it, without a record.
        """
        second = int(created)
        cached = self._second
        if cached is None or cached[0] != second:
            cached = self._second = (second, time.strftime(self.default_time_format, self.converter(created)))
        return cast(str, self.default_msec_format) % (cached[1], msecs)
