"""`analytics bench`: how fast the service is, next to what this database allows.

On the same simulated events, database and machine, in one run:

- **end to end** (`e2e`): the events streamed into the embedded broker and consumed by the
  real consumer process into the database, plus a sweep over batch sizes and a scale-out
  run (several consumer processes in one group);
- **raw ceiling** (`raw`): the same resulting rows written with plain MySQLdb multi-row
  upserts in large transactions — no Kafka, no validation;
- **seed-style baseline** (`baseline`): the events applied the tutorial way — `json.loads`,
  one statement per row, one commit per event;
- **cost of each stage** (`stages`): microseconds per event of decode (parse and
  validate, one pass), map, read, plan, render, server and commit;
- **long run** (`long_run`): a million events through one consumer, by segment of
  100,000, next to the rows already in the tables.

The three leave the same tables, which the bench checks. Results go to `bench-results.json`
and `bench-summary.md`.
"""

from analytics.bench.database import DEFAULT_DATABASE_URL, BenchError
from analytics.bench.report import (
    long_run_table,
    methods_table,
    ratio_line,
    scale_out_table,
    stages_table,
    sweep_table,
    target_lines,
)
from analytics.bench.results import BenchResults, load
from analytics.bench.runner import (
    DEFAULT_BASELINE_EVENTS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_BATCH_SIZES,
    DEFAULT_EVENTS,
    DEFAULT_LONG_EVENTS,
    DEFAULT_OUTPUT_DIR,
    DEFAULT_PARTITIONS,
    DEFAULT_SCALE_OUT,
    DEFAULT_SEED,
    RESULTS_FILE,
    SUMMARY_FILE,
    BenchOptions,
    Progress,
    RichProgress,
    run,
)

__all__ = [
    "DEFAULT_BASELINE_EVENTS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BATCH_SIZES",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_EVENTS",
    "DEFAULT_LONG_EVENTS",
    "DEFAULT_OUTPUT_DIR",
    "DEFAULT_PARTITIONS",
    "DEFAULT_SCALE_OUT",
    "DEFAULT_SEED",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "BenchError",
    "BenchOptions",
    "BenchResults",
    "Progress",
    "RichProgress",
    "load",
    "long_run_table",
    "methods_table",
    "ratio_line",
    "run",
    "scale_out_table",
    "stages_table",
    "sweep_table",
    "target_lines",
]
