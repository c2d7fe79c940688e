"""A writer process for the concurrency test, in its own small module: a spawned child
imports only this and the store, not the test module (and torch) around it."""

import numpy as np

from digitlab.store import Sample, open_store


def write_samples(location: str, worker: int, n: int, start) -> None:
    start.wait(60)  # all writers open the (not yet created) store at the same moment
    with open_store(location) as store:
        for k in range(n):
            store.add(Sample(label=(worker + k) % 10, drawing=f"{worker}-{k}".encode(),
                             pixels=np.full((28, 28), worker, np.uint8)))
