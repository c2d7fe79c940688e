"""`digitlab up`: the page at once, with a quick model, while the run's full model trains
behind it and is swapped in live; and `digitlab train-run`, that training on its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .common import add_command, add_quiet_option


def cmd_train_run(args) -> int:
    from ..training.full_run import train_full_run

    best = train_full_run(args.run, device=args.device, progress=not args.quiet)
    print(f"the run is complete: {best} with its group judge; progress in {Path(args.run) / 'progress.json'}")
    return 0


def cmd_up(args) -> int:
    from ..training.full_run import is_complete, quick_model
    from .serve import cmd_serve

    run = Path(args.run)
    args.model = [str(run / "best")]
    if is_complete(run):
        print(f"{run} is trained: serving it", flush=True)
        args.standin = None
        return cmd_serve(args)
    print(f"{run} is not trained yet: a quick model first, then the full one in the background "
          f"(its log: {run / 'train-run.log'})", flush=True)
    args.standin = str(quick_model(run, progress=not args.quiet))
    run.mkdir(parents=True, exist_ok=True)
    with open(run / "train-run.log", "ab") as out:
        behind = subprocess.Popen([sys.executable, "-m", "digitlab", "train-run", str(run), "--quiet"]
                                  + (["--device", args.device] if args.device else []),
                                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        return cmd_serve(args)
    finally:  # what it finished stays; the next `digitlab up` resumes the rest
        if behind.poll() is None:
            behind.terminate()
            try:
                behind.wait(10)
            except subprocess.TimeoutExpired:
                behind.kill()


def register(sub) -> None:
    from .reader_options import add_reader_options
    from .serve import add_service_options

    p = add_command(sub, "train-run",
                    description="Train everything a run's reading needs, in order, resuming what an earlier "
                                "call left: the classifier (the default recipe), its 'not a digit' calibration "
                                "and the group judge. What it is doing is written to RUN/progress.json, which "
                                "a server of RUN/best shows on its page.")
    p.add_argument("run", nargs="?", default="runs/default", help="the run's directory (default runs/default)")
    p.add_argument("--device", help="cpu or cuda[:N]")
    add_quiet_option(p)
    p.set_defaults(func=cmd_train_run)

    p = add_command(sub, "up",
                    description="Serve the drawing page now and make it better by itself: a run that is not "
                                "trained yet gets a quick model first (the fast recipe, seconds), served while "
                                "`digitlab train-run` trains the full one in the background; the server "
                                "switches to each better checkpoint as it is written, with no restart. A "
                                "trained run is served at once. `make run` is this command.")
    p.add_argument("--run", default="runs/default", help="the run's directory (default runs/default)")
    p.add_argument("--device", help="cpu or cuda[:N]")
    add_quiet_option(p)
    add_service_options(p)
    add_reader_options(p)
    p.set_defaults(func=cmd_up, runtime="torch")
