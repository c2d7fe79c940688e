"""A process that writes a checkpoint over the one at PATH and stops at a chosen moment,
for the kill -9 test (test_resume.py): it prints "stopped" there and waits to be killed,
or "done" when the write had no such moment.

    python tests/checkpoint_writer.py PATH weights|swap
"""

import os
import sys
import time

import torch

from digitlab import files
from digitlab.runs import checkpoint


def _stop() -> None:
    print("stopped", flush=True)
    time.sleep(600)


def main(path: str, stage: str) -> None:
    old = checkpoint.load_checkpoint(path)
    with torch.no_grad():
        for p in old.model.parameters():
            p.add_(0.01)
    if stage == "weights":  # half of the new weights file is on disk
        real = checkpoint.save_file

        def half_written(tensors, name):
            real(tensors, name)
            with open(name, "r+b") as f:
                f.truncate(os.path.getsize(name) // 2)
            _stop()

        checkpoint.save_file = half_written
    elif stage == "swap":  # the new directory is whole; the old one has just been moved (if it is moved)
        real_replace = files.os.replace

        class Os:
            def __getattr__(self, name):
                return getattr(os, name)

            @staticmethod
            def replace(a, b):
                real_replace(a, b)
                _stop()

        files.os = Os()
    checkpoint.save_checkpoint(path, old.model, old.model_spec, train_config=old.meta["train_config"],
                               history=old.meta["history"])
    print("done", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main(*sys.argv[1:])
