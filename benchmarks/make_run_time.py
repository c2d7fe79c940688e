"""Times `make run` from a fresh clone: seconds until the page answers (GET /api/ready is
200, with the quick stand-in) and until the full model serves (GET /api/model names the
group judge, no stand-in, and the run's training is done). Stops `make run` after.

    python benchmarks/make_run_time.py [--repo .] [--port 8765] [--runs 1] [--fresh-data]

Each run clones the repository's HEAD into a new temporary directory, so it pays for the
set-up (a new .venv) as a new user does. Generated examples kept in the data directory
(~/.cache/digitlab/generated) from an earlier run are read back, as they would be for a
user; `--fresh-data` gives each run an empty data directory of its own (DIGITLAB_DATA):
MNIST unpacked and every generated example drawn, as on a first run. The server listens on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request


def _get(port: int, path: str):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, json.loads(r.read())
    except (OSError, ValueError):
        return None, None


def time_once(repo: str, port: int, fresh_data: bool = False, limit: float = 1200) -> dict:
    where = tempfile.mkdtemp(prefix="digitlab-make-run.")
    subprocess.run(["git", "clone", "-q", repo, f"{where}/c"], check=True)
    env = dict(os.environ, DIGITLAB_DATA=f"{where}/data") if fresh_data else None
    started = time.time()
    with open(f"{where}/make.log", "w") as log:
        make = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=f"{where}/c", stdout=log, env=env,
                                stderr=subprocess.STDOUT, start_new_session=True)
    ready = full = None
    info: dict = {}
    try:
        while time.time() - started < limit and make.poll() is None:
            if ready is None:
                if _get(port, "/api/ready")[0] == 200:
                    ready = time.time() - started
                    print(f"page answers after {ready:.1f} s", flush=True)
            else:
                _, info = _get(port, "/api/model")
                training = (info or {}).get("training") or {}
                if info and info.get("group_judge") and not info.get("standin_for") and training.get("state") == "done":
                    full = time.time() - started
                    print(f"full model serves after {full:.1f} s", flush=True)
                    break
            time.sleep(0.5)
    finally:
        os.killpg(make.pid, signal.SIGINT)
        try:
            make.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
    return {"clone": f"{where}/c", "ready_s": ready, "full_s": full, "val_accuracy": (info or {}).get("val_accuracy")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", default=".", help="the repository to clone (default: this one)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--fresh-data", action="store_true",
                   help="an empty data directory per run: nothing unpacked or drawn before")
    args = p.parse_args()
    results = [time_once(os.path.abspath(args.repo), args.port, args.fresh_data) for _ in range(args.runs)]
    done = [r for r in results if r["ready_s"] is not None and r["full_s"] is not None]
    print(json.dumps({"runs": results, "median_ready_s": statistics.median(r["ready_s"] for r in done) if done else None,
                      "median_full_s": statistics.median(r["full_s"] for r in done) if done else None}, indent=2))


if __name__ == "__main__":
    main()
