"""`digitlab serve`: the drawing page and the REST API."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DigitlabError
from .common import add_command
from .reader_options import add_reader_options, reader_choices
from .predict import DEFAULT_MODEL, load_predictor


def cmd_serve(args) -> int:
    from ..store import default_location, open_store
    from ..web.limits import Limits
    from ..web.models import model_names
    from ..web.server import ServeConfig, serve

    if args.no_store and args.store:
        raise DigitlabError("--store and --no-store contradict each other; give one")
    paths = tuple(args.model or [DEFAULT_MODEL])
    names = model_names(paths)
    store = None if args.no_store else str(args.store or default_location(paths[0]))
    config = ServeConfig(models=paths, device=args.device, runtime=args.runtime, **reader_choices(args),
                         host=args.host, port=args.port,
                         workers=args.workers, threads=args.threads, log_format=args.log_format, store=store,
                         limits=Limits(args.max_image_bytes, args.max_pixels, args.timeout,
                                       samples_per_minute=args.samples_per_minute, max_samples=args.max_samples,
                                       max_sample_bytes=args.max_sample_bytes),
                         standin=args.standin, watch=args.watch)
    if args.watch < 0:
        raise DigitlabError(f"--watch {args.watch}: give seconds between checks, or 0 for none")
    if args.workers < 1 or (args.threads is not None and args.threads < 1):
        raise DigitlabError(f"--workers and --threads must be at least 1, not {args.workers} and {args.threads}")
    # checked (and their rejection thresholds cached) once here; then each worker loads them. With
    # a stand-in, the first model may come later: the stand-in is checked instead, while it is missing.
    # Before the store, so a mistyped --model leaves no samples.db behind
    for path in paths:
        if path == paths[0] and args.standin and not (Path(path) / "model.json").exists():
            path = args.standin
        load_predictor(path, args)
    if store is not None:  # made (or migrated) once here, so a bad store stops the server before it starts
        with open_store(store) as opened:
            store_note = f"corrections to {opened.location} ({opened.count()} so far)"
    served = paths[0] if len(paths) == 1 else ", ".join(f"{p} as {n!r}" for n, p in zip(names, paths))
    print(f"serving {served} on http://{args.host}:{args.port}/ with {args.workers} worker(s), "
          f"{config.threads_per_worker} thread(s) each  (API docs at /docs, metrics at /metrics; Ctrl-C stops)",
          flush=True)
    print(store_note if store is not None else "the sample store is off (--no-store)", flush=True)
    serve(config)
    return 0


def add_service_options(p: argparse.ArgumentParser) -> None:
    """Where and how the service listens and what it accepts: `serve`'s and `up`'s."""
    from ..web.access_log import FORMATS
    from ..web.limits import Limits

    limits = Limits()
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--store", metavar="S", help="where the page's corrections go: a SQLite file or a "
                                                 "postgresql://user:password@host/db URL (default: samples.db "
                                                 "beside the model's run, e.g. runs/default/samples.db)")
    p.add_argument("--no-store", action="store_true", help="keep no corrections; the page hides its buttons")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes, each with its own copy of the model (default 1)")
    p.add_argument("--threads", type=int, metavar="T",
                   help="PyTorch threads per worker (default: this machine's cores / N, at least 1)")
    p.add_argument("--log-format", choices=FORMATS, default="text",
                   help="one line per request as text (default) or JSON, on stderr")
    p.add_argument("--max-image-bytes", type=int, default=limits.max_image_bytes, metavar="B",
                   help=f"largest image accepted, in bytes (default {limits.max_image_bytes:,}); larger: 413")
    p.add_argument("--max-pixels", type=int, default=limits.max_pixels, metavar="P",
                   help=f"most pixels (width x height) an image may have (default {limits.max_pixels:,}, "
                        "4096x4096, also the highest allowed); more: 422")
    p.add_argument("--timeout", type=float, default=limits.timeout_s, metavar="S",
                   help=f"seconds one image may take to read (default {limits.timeout_s:g}); longer: 503")
    p.add_argument("--samples-per-minute", type=int, default=limits.samples_per_minute, metavar="N",
                   help=f"corrections one client address may store per minute, per worker (default "
                        f"{limits.samples_per_minute}); more: 429")
    p.add_argument("--max-samples", type=int, default=limits.max_samples, metavar="N",
                   help=f"most corrections the store keeps (default {limits.max_samples:,}); then 507")
    p.add_argument("--max-sample-bytes", type=int, default=limits.max_sample_bytes, metavar="B",
                   help=f"largest drawing stored as a correction, in bytes (default {limits.max_sample_bytes:,}); "
                        "larger: 413")
    p.add_argument("--watch", type=float, default=2.0, metavar="S",
                   help="seconds between checks for a new checkpoint of each model (written again by training or "
                        "finetune, or its group judge appearing): verified, then swapped in between requests, "
                        "no restart (default 2; 0: never)")


def register(sub) -> None:
    """Add `serve` to the `digitlab` parser."""
    p = add_command(sub, "serve",
                    description="Serve a page where people draw digits or whole numbers and see them read, "
                                "and a JSON API: POST /api/predict, GET /api/health (liveness), GET /api/ready "
                                "(readiness: the model loaded and warmed), GET /api/model, GET /metrics "
                                "(Prometheus); OpenAPI docs at /docs. One log line per request on stderr.")
    p.add_argument("--model", action="append", metavar="DIR",
                   help=f"checkpoint or ensemble directory (default {DEFAULT_MODEL}); repeat it to serve several: "
                        "the page gets a picker, /api/predict?model=NAME picks one, /api/models lists them, and "
                        "the first is the default")
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                   help="run the model with PyTorch (default) or ONNX Runtime")
    add_reader_options(p)
    p.add_argument("--standin", metavar="DIR",
                   help="a checkpoint to serve in the first model's place while that is missing or less accurate "
                        "on validation; the first model is swapped in when it is there and at least as good")
    add_service_options(p)
    p.set_defaults(func=cmd_serve)

