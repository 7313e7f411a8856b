"""Table definitions of the collector's store, and the schema version they make up.

Timestamps are stored as naive UTC on both backends; numbers as 64-bit floats (``Double``:
SQLAlchemy's ``Float`` is a 32-bit FLOAT on DuckDB, which rounds a Unix time to 128 s).
The sample tables carry secondary indexes on PostgreSQL only: DuckDB scans them by its
per-block min/max zone maps, and an ART index there would make every bulk insert several
times slower.
Samples need no key of their own: a snapshot's rows are written once, in the
transaction that inserts its (agent, sequence) key into ``snapshots``. Samples are stored twice
over: one row per sample (prediction, confidence, latency, ...) and one row per
(snapshot, feature) in ``feature_columns``, holding that feature's values for every
sample of the snapshot as arrays (position ``i`` is sample ``idx = i``). The parity engine
reads one feature of one environment as a handful of arrays rather than a row per value,
and knows each feature's kind from the per-row counts without reading any value.
On PostgreSQL the tables that grow with the fleet are partitioned by day on their
time column, so that retention drops days (``partitions``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

SCHEMA_VERSION = 5

metadata = sa.MetaData()

meta = sa.Table(
    "envparity_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("agent_id", sa.String(128), primary_key=True),
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("service", sa.String(128), nullable=False),
    sa.Column("environment", sa.String(128), nullable=False),
    sa.Column("window_start", sa.DateTime, nullable=False),
    sa.Column("window_end", sa.DateTime, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("agent_version", sa.String(64), nullable=False),
    sa.Column("hostname", sa.String(256)),
    sa.Column("pod", sa.String(256)),
    sa.Column("fingerprint_hash", sa.String(64)),
    sa.Column("body_sha256", sa.String(64), nullable=False),
    # the agent's losses before delivery so far, by reason, as JSON (header ``snapshots_lost``); NULL when none
    sa.Column("snapshots_lost", sa.Text),
    sa.Index("ix_snapshots_env_window", "service", "environment", "window_end"),
)

fingerprints = sa.Table(
    "fingerprints",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("first_seen", sa.DateTime, nullable=False),
)

request_windows = sa.Table(
    "request_windows",
    metadata,
    sa.Column("agent_id", sa.String(128), primary_key=True),
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("service", sa.String(128), nullable=False),
    sa.Column("environment", sa.String(128), nullable=False),
    sa.Column("window_start", sa.DateTime, nullable=False),
    sa.Column("window_end", sa.DateTime, nullable=False),
    sa.Column("requests", sa.BigInteger, nullable=False),
    sa.Column("errors", sa.BigInteger, nullable=False),
    sa.Column("errors_by_class", sa.Text, nullable=False),
    sa.Column("latency_bounds", sa.Text, nullable=False),
    sa.Column("latency_counts", sa.Text, nullable=False),
    sa.Column("latency_sum_s", sa.Double, nullable=False),
    sa.Index("ix_request_windows_env", "service", "environment", "window_end"),
)

samples = sa.Table(
    "samples",
    metadata,
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("service", sa.String(128), nullable=False),
    sa.Column("environment", sa.String(128), nullable=False),
    sa.Column("ts", sa.DateTime, nullable=False),
    sa.Column("request_id", sa.String(256)),
    sa.Column("prediction_num", sa.Double),
    sa.Column("prediction_str", sa.String(256)),
    sa.Column("confidence", sa.Double),
    sa.Column("latency_s", sa.Double),
    sa.Column("model_version", sa.String(128)),
    sa.Column("error", sa.String(128)),
    sa.Index("ix_samples_env_ts", "service", "environment", "ts").ddl_if(dialect="postgresql"),
    sa.Index("ix_samples_request", "request_id").ddl_if(dialect="postgresql"),
)

feature_columns = sa.Table(
    "feature_columns",
    metadata,
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("service", sa.String(128), nullable=False),
    sa.Column("environment", sa.String(128), nullable=False),
    sa.Column("feature", sa.String(256), nullable=False),
    # the earliest and latest sample time of the snapshot: rows inside a window are read whole
    sa.Column("ts_min", sa.DateTime, nullable=False),
    sa.Column("ts_max", sa.DateTime, nullable=False),
    sa.Column("length", sa.Integer, nullable=False),  # samples in the snapshot = length of the arrays
    sa.Column("numbers", sa.Integer, nullable=False),  # values that are numbers (booleans not counted)
    sa.Column("texts", sa.Integer, nullable=False),  # values that are strings
    sa.Column("booleans", sa.Integer, nullable=False),
    # a number (booleans as 1/0) or NULL for each sample; absent and null values are both NULL
    sa.Column("num", sa.ARRAY(sa.Double), nullable=False),
    # a string ("true"/"false" for booleans) or NULL for each sample; NULL when no value is text
    sa.Column("str", sa.ARRAY(sa.Text)),
    sa.Index("ix_feature_columns_env", "service", "environment", "feature", "ts_max").ddl_if(dialect="postgresql"),
    sa.Index("ix_feature_columns_snapshot", "agent_id", "sequence").ddl_if(dialect="postgresql"),
)

gpu_windows = sa.Table(
    "gpu_windows",
    metadata,
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("service", sa.String(128), nullable=False),
    sa.Column("environment", sa.String(128), nullable=False),
    sa.Column("window_end", sa.DateTime, nullable=False),
    sa.Column("hostname", sa.String(256)),
    sa.Column("uuid", sa.String(128), nullable=False),
    sa.Column("gpu_index", sa.Integer, nullable=False),
    sa.Column("name", sa.String(256)),
    sa.Column("lost", sa.Boolean, nullable=False),
    sa.Column("gpu_values", sa.Text, nullable=False),
    sa.Index("ix_gpu_windows_env", "service", "environment", "window_end").ddl_if(dialect="postgresql"),
)

outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("service", sa.String(128), nullable=False),
    sa.Column("environment", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(256), nullable=False),
    sa.Column("outcome_num", sa.Double),
    sa.Column("outcome_str", sa.String(256)),
    sa.Column("ts", sa.DateTime, nullable=False),
    sa.Index("ix_outcomes_env", "service", "environment", "request_id").ddl_if(dialect="postgresql"),
)

# golden probe answers (wire 1.2 ``probes``): one row per (input, output), or one per failed probe with its reason
probe_outputs = sa.Table(
    "probe_outputs",
    metadata,
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("service", sa.String(128), nullable=False),
    sa.Column("environment", sa.String(128), nullable=False),
    sa.Column("ts", sa.DateTime, nullable=False),
    sa.Column("input_id", sa.String(256), nullable=False),
    sa.Column("output", sa.String(256)),  # NULL for a failed probe
    sa.Column("output_num", sa.Double),
    sa.Column("output_str", sa.Text),
    sa.Column("error", sa.String(128)),
    sa.Index("ix_probe_outputs_env", "service", "environment", "ts").ddl_if(dialect="postgresql"),
)

evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("service", sa.String(128), nullable=False),
    sa.Column("baseline", sa.String(128), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("evaluated_at", sa.DateTime, nullable=False),
    sa.Column("window_start", sa.DateTime, nullable=False),
    sa.Column("window_end", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("score", sa.Double),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("ix_evaluations_pair", "service", "baseline", "target", "evaluated_at"),
)

# Which replica evaluates a service in a scheduled cycle (``leases``): the first to insert (service, cycle) does
evaluation_claims = sa.Table(
    "evaluation_claims",
    metadata,
    sa.Column("service", sa.String(128), primary_key=True),
    sa.Column("cycle", sa.BigInteger, primary_key=True, autoincrement=False),  # Unix time // the cycle's length
    sa.Column("replica", sa.String(256), nullable=False),
    sa.Column("claimed_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),  # when its evaluations were stored; NULL while under way, or lost
)

# Tables that hold observations, pruned by retention on their time column (a feature row when
# its last sample is older than the cutoff).
RETAINED: tuple[tuple[sa.Table, sa.Column[Any]], ...] = (
    (feature_columns, feature_columns.c.ts_max),
    (samples, samples.c.ts),
    (request_windows, request_windows.c.window_end),
    (snapshots, snapshots.c.window_end),
    (outcomes, outcomes.c.ts),
    (gpu_windows, gpu_windows.c.window_end),
    (probe_outputs, probe_outputs.c.ts),
    (evaluations, evaluations.c.evaluated_at),
    (evaluation_claims, evaluation_claims.c.claimed_at),
)
