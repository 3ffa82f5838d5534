//! The PostgreSQL store's schema, as numbered migrations applied in order and recorded in
//! `stepwise_schema` (one row per applied version). A server applies the ones its database
//! lacks, under an advisory lock so several nodes starting at once migrate it once, and
//! refuses a database whose schema is newer than it knows.
//!
//! Records are kept as the same JSON bytes the embedded store writes (`bytea`: JSON text
//! keeps every key's order, which `jsonb` would not), so one codec reads both and a record
//! that does not decode is reported, not followed into. Names sort bytewise (`COLLATE
//! "C"`), as the embedded store's keys do, so listings order the same on both.

/// Migrations, oldest first: (version, SQL). Never edit one that has shipped; add one.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE stepwise_meta (
    key text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE machines (
    name text COLLATE "C" PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE revisions (
    machine text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (machine, revision)
);
CREATE TABLE executions (
    arn text COLLATE "C" PRIMARY KEY,
    machine text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    status text NOT NULL,
    start_ms bigint NOT NULL,
    record bytea NOT NULL
);
-- A machine's executions newest first, whole or by status; the running ones for recovery.
CREATE INDEX executions_listing ON executions (machine, start_ms DESC, name DESC);
CREATE INDEX executions_by_status ON executions (machine, status, start_ms DESC, name DESC);
CREATE INDEX executions_running ON executions (arn) WHERE status = 'RUNNING';
CREATE TABLE execution_counts (
    machine text COLLATE "C" NOT NULL,
    status text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (machine, status)
);
-- A step's events under its first event's id, as one JSON array.
CREATE TABLE events (
    execution text COLLATE "C" NOT NULL,
    first_id bigint NOT NULL,
    events bytea NOT NULL,
    PRIMARY KEY (execution, first_id)
);
CREATE TABLE timers (
    execution text COLLATE "C" NOT NULL,
    timer_key text COLLATE "C" NOT NULL,
    due_ms bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (execution, timer_key, due_ms)
);
CREATE INDEX timers_by_due ON timers (due_ms, execution, timer_key);
CREATE TABLE activities (
    name text COLLATE "C" PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE express_starts (
    arn text COLLATE "C" PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE usage (
    machine text COLLATE "C" NOT NULL,
    hour bigint NOT NULL,
    partition integer NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (machine, hour, partition)
);
CREATE TABLE tags (
    arn text COLLATE "C" PRIMARY KEY,
    tags bytea NOT NULL
);
"#,
    ),
    (
        2,
        r#"
-- The nodes of a cluster, as each last said it was alive (the database's clock decides).
CREATE TABLE nodes (
    node_id text COLLATE "C" PRIMARY KEY,
    grpc_addr text NOT NULL,
    http_addr text NOT NULL,
    started_ms bigint NOT NULL,
    seen_at timestamptz NOT NULL
);
-- Who owns each partition until when. The epoch grows with every change of owner; a
-- group commit carries the epochs its writer holds and is refused if one has moved on.
CREATE TABLE leases (
    partition integer PRIMARY KEY,
    owner text COLLATE "C",
    epoch bigint NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL DEFAULT '-infinity',
    acquired_at timestamptz
);
-- The fence at the head of every group commit: takes each partition's fence lock shared
-- (an advisory lock: nothing written, unlike a row lock) so a takeover, which needs it
-- exclusive, waits for the transaction, and the new owner's recovery reads what it wrote;
-- then, with a fresh snapshot, refuses the whole transaction if any partition's owner or
-- epoch is no longer the writer's.
CREATE FUNCTION stepwise_fence(p_owner text, p_partitions integer[], p_epochs bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    lost integer[];
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1398228558, p) FROM unnest(p_partitions) AS p ORDER BY p;
    SELECT coalesce(array_agg(w.partition ORDER BY w.partition), '{}') INTO lost
    FROM unnest(p_partitions, p_epochs) AS w(partition, epoch)
    LEFT JOIN leases l
        ON l.partition = w.partition AND l.owner = p_owner AND l.epoch = w.epoch
    WHERE l.partition IS NULL;
    IF cardinality(lost) > 0 THEN
        RAISE EXCEPTION 'the lease of partitions % is no longer held by %', lost, p_owner
            USING ERRCODE = 'SWF01', DETAIL = array_to_string(lost, ',');
    END IF;
END
$$;
"#,
    ),
    (
        3,
        r#"
-- API keys (auth): the public id, and the record with the role, the patterns and the
-- secret's hash (bearer keys) or the secret (signing keys, which Signature V4 needs).
CREATE TABLE api_keys (
    id text COLLATE "C" PRIMARY KEY,
    record bytea NOT NULL
);
"#,
    ),
];

/// The newest schema version this server knows.
pub(super) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(version, _)| *version)
}

/// Any fixed number: the advisory lock taken while migrating (session-level, released
/// with the connection if the server dies mid-way).
pub(super) const MIGRATION_LOCK: i64 = 0x5354_4550_5749_5345; // "STEPWISE"

/// The advisory lock space of the partitions' fence locks (`stepwise_fence` takes them
/// shared, a takeover exclusive); the number is written in the function's text too.
pub(super) const FENCE_LOCK_SPACE: i32 = 0x5357_464e; // "SWFN"

/// The SQLSTATE `stepwise_fence` refuses a group commit with.
pub(super) const FENCE_REFUSED: &str = "SWF01";

/// The advisory lock space of node ids: a node holds the lock of its id's hash on its
/// writer connection while it runs (PostgreSQL releases it when the connection ends, a
/// killed node's included), so two live processes never share an id, and a node that
/// gets its lock knows the leases recorded under its id are a dead incarnation's.
pub(super) const NODE_LOCK_SPACE: i32 = 0x5357_4e44; // "SWND"

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_follow_each_other() {
        for (i, (version, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i as i32 + 1);
            assert!(!sql.trim().is_empty());
        }
        assert_eq!(latest(), MIGRATIONS.len() as i32);
    }
}
