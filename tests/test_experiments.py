import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import assert_clean_error, run_cli
from digitlab.data import kfold_split
from digitlab.errors import DigitlabError
from digitlab.experiments.run import run_study
from digitlab.experiments.study import expand_model, list_studies, load_study
from digitlab.training.config import TrainConfig
from digitlab.training.lr_find import LRFindConfig, lr_range_test

REPORT_STUDIES = ["ann-baseline", "ann-cv", "ann-grid", "cnn-first", "kernel-size", "lr-range", "optimizers", "loss",
                  "batch-size", "pooling", "conv-layers", "filters", "dense-layers", "nodes", "dropout",
                  "activation", "augmentation", "final"]

TINY = """
description = "tiny test study"

[base]
model = "8C{kernel}-R-MP2-F-10-SM"
subset = 2000
val_size = 1000
epochs = 1
batch_size = 64

[axes]
kernel = %s
"""


def _tiny(tmp_path, kernels="[3, 5]"):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY % kernels)
    return path


def _comparable(rows):
    """Rows without wall-clock fields, which no two runs share."""
    out = []
    for r in rows:
        r = {k: v for k, v in r.items() if k != "seconds"}
        r["history"] = [{k: v for k, v in h.items() if k not in ("seconds", "samples_per_second")}
                        for h in r["history"]]
        out.append(r)
    return out


def test_study_list_names_every_study_of_the_report():
    proc = run_cli("study", "list")
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.splitlines()]
    assert sorted(listed) == sorted(REPORT_STUDIES)
    studies = {s.name: s for s in list_studies()}
    assert len(studies["ann-grid"].trials()) == 2 * 2 * 3 * 2 * 2 * 3  # the grid, 3 folds each
    assert {t.config.model for t in studies["ann-grid"].trials()} >= {"F-64-R-10-SM", "F-397-R-397-R-397-R-10-SM"}
    assert [t.config.lr for t in studies["optimizers"].trials()] == [0.01, 0.01, 0.1, 1.0, 0.1, 0.01]
    assert len(studies["ann-cv"].trials()) == 10 and studies["lr-range"].kind == "lr-find"


@pytest.mark.parametrize("text, fragment", [
    ('description = "x"\n[base]\nmodle = "F-10"\n', "unknown key 'modle' in [base]"),
    ('description = "x"\n[base]\nmodel = "F-10"\n[axes]\nbatch = [1]\n', "unknown key 'batch' in [axes]"),
    ('description = "x"\n[base]\nmodel = "F-10"\noptimizer = "adamw"\n', "optimizer 'adamw'"),
    ('description = "x"\n[base]\nmodel = "F-{n}-10"\n[axes]\nn = []\n', "non-empty list"),
    ('description = "x"\n[base]\nmodel = "F-QQ-10"\n', "'QQ'"),
    ('description = "x"\nfolds = 1\n[base]\nmodel = "F-10"\n', "folds 1"),
    ('[base]\nmodel = "F-10"\n', "description"),
    ('description = "x"\ncolour = 1\n', "unknown top-level key"),
    ('description = "x\n', "not valid TOML"),
])
def test_bad_study_files_are_refused_at_load(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DigitlabError) as err:
        load_study(path)
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_model_templates_fill_placeholders_and_repeats():
    assert expand_model("F-<{nodes}-R>*{layers}-10-SM", {"nodes": 64, "layers": 2}) == "F-64-R-64-R-10-SM"
    assert expand_model("64C3-MP2-F-<128-R>*{n}-10", {"n": 0}) == "64C3-MP2-F-10"
    assert expand_model("{a}C3-F-{bn}-10", {"a": 8, "bn": ""}) == "8C3-F-10"
    with pytest.raises(DigitlabError, match="needs a value for {nodes}"):
        expand_model("F-{nodes}-10", {})


def test_kfold_split_partitions_the_labels_evenly(mnist):
    labels = mnist.train_labels[:3000]
    folds = [kfold_split(labels, 5, k, seed=0) for k in range(5)]
    vals = torch.cat([v for _, v in folds])
    assert sorted(vals.tolist()) == list(range(3000))  # every item in exactly one fold
    for train, val in folds:
        assert len(set(train.tolist()) & set(val.tolist())) == 0 and len(train) + len(val) == 3000
        assert abs(len(val) - 600) <= 1
        share = torch.bincount(labels[val].long(), minlength=10) / len(val)
        assert (share - torch.bincount(labels.long(), minlength=10) / 3000).abs().max() < 0.01


def test_in_process_workers_and_ray_give_the_same_rows(tmp_path):
    study = load_study(_tiny(tmp_path, "[3, 5, 7]"))
    quiet = dict(log=lambda s: None, progress=False)
    inline = run_study(study, tmp_path / "inline", threads=1, **quiet)
    workers = run_study(study, tmp_path / "workers", workers=2, threads=1, **quiet)
    on_ray = run_study(study, tmp_path / "ray", ray=True, workers=2, threads=1, **quiet)
    assert [r["trial"] for r in inline.rows] == ["kernel=3", "kernel=5", "kernel=7"]
    assert _comparable(inline.rows) == _comparable(workers.rows) == _comparable(on_ray.rows)
    assert all(r["best_val_accuracy"] > 0.6 for r in inline.rows)  # 2k images, 1 epoch: well above chance
    assert [json.loads(line)["trial"] for line in (tmp_path / "ray" / "results.jsonl").read_text().splitlines()] == \
        ["kernel=3", "kernel=5", "kernel=7"]
    summary = (tmp_path / "inline" / "summary.md").read_text()
    assert "**Verdict** — best:" in summary and "| kernel=5 |" in summary
    csv_lines = (tmp_path / "inline" / "summary.csv").read_text().splitlines()
    assert csv_lines[0].split(",") == ["variant", "best_epoch", "final_val_accuracy", "best_val_accuracy", "gap",
                                       "seconds"] and len(csv_lines) == 4
    assert (tmp_path / "inline" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_killed_study_resumes_and_runs_only_the_rest(tmp_path):
    path = _tiny(tmp_path, "[3, 5, 7]")
    out = tmp_path / "out"
    results = out / "results.jsonl"
    cmd = [sys.executable, "-m", "digitlab", "study", "run", str(path), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (results.exists() and results.read_text().count("\n") >= 1):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = [json.loads(line) for line in results.read_text().splitlines()]
    assert 1 <= len(before) < 3, "the study should have been killed part-way"
    again = run_cli("study", "run", path, "--out", out, "--quiet")
    assert again.returncode == 0, again.stderr
    assert f"{len(before)} of 3 trials already in" in again.stdout
    assert again.stdout.count("best val accuracy") == 3 - len(before)  # only the rest ran
    after = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["trial"] for r in after] == ["kernel=3", "kernel=5", "kernel=7"]
    assert after[: len(before)] == before  # the finished trials were kept, not rerun
    changed = run_cli("study", "run", path, "--out", out, "--epochs", "2")
    assert_clean_error(changed, "already holds trial 'kernel=3' with other settings")


def test_cv_with_three_folds_returns_three_accuracies(tmp_path):
    # the CV mechanics on a base without generated non-digits: no bank to render for each fold
    proc = run_cli("cv", "--recipe", "report-cnn-first", "--model", "8C3-R-MP2-F-10-SM", "--subset", "2000",
                   "--epochs", "1", "--batch-size", "64",
                   "--no-augment", "--folds", "3", "--out", tmp_path / "cv", "--quiet")
    assert proc.returncode == 0, proc.stderr
    folds = [line for line in proc.stdout.splitlines() if line.startswith("fold ")]
    assert len(folds) == 3
    scores = [float(line.split()[-1]) for line in folds]
    assert all(0.6 < s <= 1 for s in scores)
    mean_line = next(line for line in proc.stdout.splitlines() if line.startswith("mean "))
    assert float(mean_line.split()[1]) == pytest.approx(np.mean(scores), abs=1e-4)


def test_search_ranks_a_two_by_two_grid(tmp_path):
    # the search mechanics on a base without generated non-digits, as for cv above
    proc = run_cli("search", "--recipe", "report-cnn-first", "--model", "8C3-R-MP2-F-10-SM", "--subset", "2000",
                   "--epochs", "1", "--no-augment",
                   "--param", "batch_size=32,256", "--param", "lr=0.003,0.00001", "--folds", "2",
                   "--out", tmp_path / "search", "--quiet")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    table = lines[start + 1:start + 5]
    assert [int(line.split()[0]) for line in table] == [1, 2, 3, 4]
    means = [float(line.split()[1]) for line in table]
    assert means == sorted(means, reverse=True)
    assert "lr=0.003" in table[0] and "lr=1e-05" in table[-1]  # a rate 300x smaller barely learns in 1 epoch
    assert "best parameters: {'batch_size': 32, 'lr': 0.003}" in proc.stdout
    assert_clean_error(run_cli("search", "--param", "colour=1,2", "--out", tmp_path / "s2"), "unknown setting")


def test_lr_find_suggests_a_rate_where_the_loss_falls():
    cfg = TrainConfig(model="8C3-R-MP2-F-10-SM", subset=3000, val_size=1000, batch_size=64)
    find = LRFindConfig(min_lr=1e-6, max_lr=100, steps=120)
    result = lr_range_test(cfg, find)
    lr, lrs, smoothed = result["suggested_lr"], result["lrs"], result["smoothed"]
    assert find.min_lr <= lr <= find.max_lr
    i = lrs.index(lr)
    assert smoothed[i] < smoothed[0] - 0.1  # well into the descent
    assert smoothed[i + 3] < smoothed[i - 3]  # and still falling there
    assert 1e-4 < lr < 1  # Adam on this model: neither the flat start nor the divergence
    assert result["steps"] < 120  # the sweep stopped once the loss blew up
