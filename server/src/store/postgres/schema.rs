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
pub(super) const MIGRATIONS: &[(i32, &str)] = &[(
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
)];

/// The newest schema version this server knows.
pub(super) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(version, _)| *version)
}

/// Any fixed number: the advisory lock taken while migrating (session-level, released
/// with the connection if the server dies mid-way).
pub(super) const MIGRATION_LOCK: i64 = 0x5354_4550_5749_5345; // "STEPWISE"

/// The advisory lock a server holds on its writer connection for as long as it runs:
/// one server per database (PostgreSQL releases it when the connection ends, a killed
/// server's included).
pub(super) const SERVER_LOCK: i64 = 0x5354_4550_5749_5346;

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
