"""Studies (declarative sweeps), k-fold cross-validation, grid search and the runners
that execute their trials in-process, in local worker processes or on Ray."""
