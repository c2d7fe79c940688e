"""One log line per request, as JSON (for a log pipeline) or as text (for a person).

The line carries what an operator asks first: route, status, milliseconds, how many
digits were read and whether the reading was rejected. `log_config` is handed to
uvicorn, which applies it in every worker process, so all workers log alike.
"""

from __future__ import annotations

import json
import logging
import os
import time

ACCESS = logging.getLogger("digitlab.access")
FORMATS = ("json", "text")


def log_request(fields: dict) -> None:
    ACCESS.info("%(method)s %(path)s %(status)s", fields, extra={"fields": fields})


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, and a request's fields when it has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                + f".{int(record.msecs):03d}Z", "level": record.levelname.lower(), "logger": record.name,
                "pid": os.getpid()}
        fields = getattr(record, "fields", None)
        line.update(fields if fields is not None else {"message": record.getMessage()})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


class TextFormatter(logging.Formatter):
    """A request as `POST /api/predict 200 12.3 ms digits=1 rejected=false`; anything else as usual."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        f = getattr(record, "fields", None)
        if f is None:
            return super().format(record)
        reading = f" digits={f['digits']} rejected={str(f['rejected']).lower()}" if "digits" in f else ""
        where = f["route"] if f["route"] != "unmatched" else f["path"]  # a 404 says what was asked for
        return f"{self.formatTime(record)} {f['method']} {where} {f['status']} {f['ms']:.1f} ms{reading}"


def log_config(fmt: str) -> dict:
    """A logging dictConfig for uvicorn: our request lines and uvicorn's own messages in
    one format on stderr (uvicorn's access log is off; ours replaces it)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    formatter = {"()": f"{__name__}.{'JsonFormatter' if fmt == 'json' else 'TextFormatter'}"}
    handler = {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"line": formatter},
            "handlers": {"stderr": handler},
            "loggers": {"digitlab": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
                        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
                        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}}}
