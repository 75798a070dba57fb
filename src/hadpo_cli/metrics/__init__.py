"""Pure metric functions: POPE answer parsing and scoring, paired tests (no model, no I/O)."""

# Paired-bootstrap resamples per benchmark split; here, not in metrics.paired, so that the
# settings (and so `hadpo --help`) can name it without importing numpy.
DEFAULT_RESAMPLES = 10_000
