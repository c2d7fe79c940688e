"""Run a study's trials in-process, in local worker processes, or on a Ray cluster,
with the same result rows either way.

A trial travels as plain JSON (its full config) and comes back as one JSON row,
which the driver appends to `results.jsonl` the moment it arrives. Running the same
trials again skips those already in the file, so a killed study resumes where it
stopped. Every trial seeds itself from its own config, so where it runs does not
change what it computes.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable

import torch
from tqdm import tqdm

from ..errors import DigitlabError
from ..files import write_bytes_atomic
from ..training.config import TrainConfig
from .study import Trial

RESULTS = "results.jsonl"


def run_trial(payload: dict) -> dict:
    """Execute one trial (in whatever process or node this runs) and return its row.

    The trial runs with exactly `payload["threads"]` intra-op threads wherever it runs:
    oneDNN may pick another summation order for another thread count, which moves
    losses in their last digits, so the same threads give bit-identical rows."""
    previous = torch.get_num_threads()
    torch.set_num_threads(payload["threads"])
    try:
        return _run_trial(Trial.from_json(payload["trial"]), payload["threads"])
    finally:
        torch.set_num_threads(previous)


def _run_trial(trial: Trial, threads: int) -> dict:
    from ..training.lr_find import lr_range_test
    from ..training.trainer import train

    t0 = time.perf_counter()
    row = {"trial": trial.id, "study": trial.study, "variant": trial.variant, "params": trial.params,
           "fold": trial.config.fold, "seed": trial.config.seed, "threads": threads, "kind": trial.kind,
           "config": trial.config.to_json()}
    if trial.kind == "lr-find":
        row["lr_find"] = lr_range_test(trial.config, trial.lr_find)
    else:
        fit = train(trial.config, None, progress=False, log=lambda s: None)
        row.update(history=fit.history, best_epoch=fit.best_epoch, best_val_accuracy=fit.best_val_accuracy,
                   final_val_accuracy=fit.history[-1]["val_accuracy"])
    row["seconds"] = time.perf_counter() - t0
    return row


# --- the results file ----------------------------------------------------------------------


def read_results(path: Path) -> dict[str, dict]:
    """Finished rows by trial id. A last line cut short by a kill is dropped (and cut off
    the file, so the next append starts on a fresh line)."""
    if not path.exists():
        return {}
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
        write_bytes_atomic(path, raw)
    rows = {}
    for n, line in enumerate(raw.decode().splitlines(), 1):
        try:
            row = json.loads(line)
            rows[row["trial"]] = row
        except (ValueError, KeyError, TypeError):
            raise DigitlabError(f"{path} line {n} is not a result row; move the file away to start over") from None
    return rows


def append_result(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


# --- backends -----------------------------------------------------------------------------


def _set_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def _in_process(payloads: list[dict]) -> Iterable[dict]:
    for payload in payloads:
        yield run_trial(payload)


def _local_workers(payloads: list[dict], workers: int) -> Iterable[dict]:
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_trial, p) for p in payloads]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _ray(payloads: list[dict], workers: int, address: str | None, threads: int) -> Iterable[dict]:
    try:
        import ray
    except ImportError:
        raise DigitlabError("--ray needs the ray package: pip install 'ray>=2.9'") from None
    local = address is None
    options = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if local:
        ray.init(num_cpus=workers * threads, object_store_memory=200 * 1024**2, **options)
    else:
        try:
            ray.init(address=address, **options)
        except Exception as e:  # ray raises ConnectionError, RuntimeError, ... depending on the failure
            raise DigitlabError(f"cannot connect to the Ray cluster at {address}: {e}") from None
    try:
        remote = ray.remote(num_cpus=threads)(run_trial)
        pending = [remote.remote(p) for p in payloads]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        ray.shutdown()


def run_trials(trials: list[Trial], out: str | Path, workers: int = 1, ray: bool = False,
               ray_address: str | None = None, threads: int | None = None, log: Callable[[str], None] = print,
               progress: bool = True) -> list[dict]:
    """Run every trial not yet in OUT/results.jsonl; return all rows in trial order.

    `threads` per trial defaults to this machine's threads divided among the workers."""
    if workers < 1:
        raise DigitlabError(f"workers must be at least 1, not {workers}")
    threads = threads or max(1, torch.get_num_threads() // workers)
    if threads < 1:
        raise DigitlabError(f"threads must be at least 1, not {threads}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS
    done = read_results(path)
    for t in trials:
        if t.id in done and TrainConfig.from_json(done[t.id]["config"]) != t.config:
            raise DigitlabError(f"{path} already holds trial {t.id!r} with other settings (another study or "
                                "other --subset/--epochs); choose another --out, or move the file away")
    todo = [t for t in trials if t.id not in done]
    if done:
        log(f"{len(trials) - len(todo)} of {len(trials)} trials already in {path}; running the other {len(todo)}")
    payloads = [{"trial": t.to_json(), "threads": threads} for t in todo]
    if ray:
        rows = _ray(payloads, workers, ray_address, threads)
    elif workers > 1 and len(payloads) > 1:
        rows = _local_workers(payloads, workers)
    else:
        rows = _in_process(payloads)
    bar = tqdm(total=len(todo), unit="trial", disable=None if progress else True)
    for row in rows:
        append_result(path, row)
        done[row["trial"]] = row
        bar.update()
        log(f"  {row['trial']}: " + (f"best val accuracy {row['best_val_accuracy']:.4f}" if "history" in row
                                     else f"suggested lr {row['lr_find']['suggested_lr']:.3g}")
            + f" ({row['seconds']:.1f}s)")
    bar.close()
    ordered = [done[t.id] for t in trials]
    # one order whichever backend finished first: the study's own
    others = [r for k, r in done.items() if k not in {t.id for t in trials}]
    write_bytes_atomic(path, "".join(json.dumps(r) + "\n" for r in ordered + others).encode())
    return ordered
