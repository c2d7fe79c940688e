"""A study from start to files: expand trials, run the missing ones, write the summary.
`digitlab study run`, `cv` and `search` all come through here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import DigitlabError
from .runner import RESULTS, read_results, run_trials
from .study import Study, Trial
from .summary import variant_summaries, write_study_report


@dataclass
class StudyResult:
    study: Study
    rows: list[dict]
    summaries: list[dict]
    files: list[Path]


def _note(trials: list[Trial]) -> str:
    cfg = trials[0].config
    size = f"a {cfg.subset:,}-image training subset" if cfg.subset else "the full training set"
    held = f"{cfg.folds}-fold cross-validation" if cfg.folds else f"{cfg.val_size:,} validation images"
    return f"{len(trials)} trials on {size}, {held}; first trial: {cfg.describe()}."


def run_study(study: Study, out: str | Path, *, subset: int | None = None, epochs: int | None = None,
              workers: int = 1, ray: bool = False, ray_address: str | None = None, threads: int | None = None,
              log: Callable[[str], None] = print, progress: bool = True) -> StudyResult:
    trials = study.trials(subset=subset, epochs=epochs)
    rows = run_trials(trials, out, workers=workers, ray=ray, ray_address=ray_address, threads=threads, log=log,
                      progress=progress)
    files = write_study_report(study, rows, out, _note(trials))
    return StudyResult(study, rows, variant_summaries(rows), files)


def report_study(study: Study, out: str | Path, *, subset: int | None = None,
                 epochs: int | None = None) -> StudyResult:
    """Rewrite the summary from the results already in OUT (all trials must be there)."""
    trials = study.trials(subset=subset, epochs=epochs)
    done = read_results(Path(out) / RESULTS)
    missing = [t.id for t in trials if t.id not in done]
    if missing:
        raise DigitlabError(f"{Path(out) / RESULTS} lacks {len(missing)} of {len(trials)} trials (e.g. "
                            f"{missing[0]!r}); run `digitlab study run {study.name}` with the same options first")
    rows = [done[t.id] for t in trials]
    files = write_study_report(study, rows, out, _note(trials))
    return StudyResult(study, rows, variant_summaries(rows), files)
