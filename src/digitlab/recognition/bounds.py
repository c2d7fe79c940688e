"""The largest picture the reading path decodes, in one import-light place: the service's
limits (`digitlab serve --max-pixels`) are bounded by it, and their help shows it."""

MAX_SIDE = 4096  # pixels, either side
