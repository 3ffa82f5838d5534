//! Every statement the PostgreSQL store runs, prepared on each connection when it opens.

pub const PUT_MACHINE: &str = "INSERT INTO machines (name, record) VALUES ($1, $2) \
    ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record";
pub const PUT_REVISION: &str = "INSERT INTO revisions (machine, revision, record) \
    VALUES ($1, $2, $3) ON CONFLICT (machine, revision) DO UPDATE SET record = EXCLUDED.record";
pub const DELETE_MACHINE: &str = "DELETE FROM machines WHERE name = $1";
pub const PUT_EXECUTION: &str = "INSERT INTO executions \
    (arn, machine, name, status, start_ms, record) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (arn) DO UPDATE SET status = EXCLUDED.status, record = EXCLUDED.record";
pub const COUNT_EXECUTIONS: &str = "INSERT INTO execution_counts (machine, status, count) \
    VALUES ($1, $2, GREATEST($3::bigint, 0)) ON CONFLICT (machine, status) \
    DO UPDATE SET count = GREATEST(execution_counts.count + $3::bigint, 0)";
pub const APPEND_EVENTS: &str = "INSERT INTO events (execution, first_id, events) \
    VALUES ($1, $2, $3) ON CONFLICT (execution, first_id) DO UPDATE SET events = EXCLUDED.events";
pub const PUT_TIMER: &str = "INSERT INTO timers (execution, timer_key, due_ms, record) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (execution, timer_key, due_ms) \
    DO UPDATE SET record = EXCLUDED.record";
pub const DELETE_TIMER: &str =
    "DELETE FROM timers WHERE execution = $1 AND timer_key = $2 AND due_ms = $3";
pub const PUT_ACTIVITY: &str = "INSERT INTO activities (name, record) VALUES ($1, $2) \
    ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record";
pub const DELETE_ACTIVITY: &str = "DELETE FROM activities WHERE name = $1";
pub const PUT_EXPRESS_START: &str = "INSERT INTO express_starts (arn, record) VALUES ($1, $2) \
    ON CONFLICT (arn) DO UPDATE SET record = EXCLUDED.record";
pub const DELETE_EXPRESS_START: &str = "DELETE FROM express_starts WHERE arn = $1";
pub const PUT_USAGE: &str = "INSERT INTO usage (machine, hour, partition, record) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (machine, hour, partition) \
    DO UPDATE SET record = EXCLUDED.record";
pub const PUT_TAGS: &str = "INSERT INTO tags (arn, tags) VALUES ($1, $2) \
    ON CONFLICT (arn) DO UPDATE SET tags = EXCLUDED.tags";
pub const DELETE_TAGS: &str = "DELETE FROM tags WHERE arn = $1";
pub const PUT_KEY: &str = "INSERT INTO api_keys (id, record) VALUES ($1, $2) \
    ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record";
pub const PROPOSE_PARTITIONS: &str = "INSERT INTO stepwise_meta (key, value) \
    VALUES ('partitions', $1) ON CONFLICT (key) DO NOTHING";

pub const FENCE: &str = "SELECT stepwise_fence($1, $2, $3)";
pub const ANNOUNCE: &str = "SELECT pg_notify('stepwise_offers', $1)";

pub const MACHINE: &str = "SELECT name, record FROM machines WHERE name = $1";
pub const MACHINES: &str = "SELECT name, record FROM machines ORDER BY name";
pub const REVISION: &str = "SELECT record FROM revisions WHERE machine = $1 AND revision = $2";
pub const EXECUTION: &str = "SELECT arn, record FROM executions WHERE arn = $1";
pub const RUNNING: &str = "SELECT arn, record FROM executions WHERE status = 'RUNNING'";
pub const PAGE: &str = "SELECT arn, record, start_ms, name FROM executions \
    WHERE machine = $1 ORDER BY start_ms DESC, name DESC LIMIT $2";
pub const PAGE_AFTER: &str = "SELECT arn, record, start_ms, name FROM executions \
    WHERE machine = $1 AND (start_ms, name) < ($3, $4) \
    ORDER BY start_ms DESC, name DESC LIMIT $2";
pub const STATUS_PAGE: &str = "SELECT arn, record, start_ms, name FROM executions \
    WHERE machine = $1 AND status = $3 ORDER BY start_ms DESC, name DESC LIMIT $2";
pub const STATUS_PAGE_AFTER: &str = "SELECT arn, record, start_ms, name FROM executions \
    WHERE machine = $1 AND status = $5 AND (start_ms, name) < ($3, $4) \
    ORDER BY start_ms DESC, name DESC LIMIT $2";
pub const COUNTS: &str = "SELECT machine, status, count FROM execution_counts WHERE count > 0";
pub const EVENTS: &str =
    "SELECT first_id, events FROM events WHERE execution = $1 ORDER BY first_id";
pub const FIRST_EVENTS: &str =
    "SELECT first_id, events FROM events WHERE execution = $1 ORDER BY first_id LIMIT 1";
pub const TIMERS: &str = "SELECT execution, timer_key, due_ms, record FROM timers \
    ORDER BY due_ms, execution, timer_key";
pub const ACTIVITY: &str = "SELECT name, record FROM activities WHERE name = $1";
pub const ACTIVITIES: &str = "SELECT name, record FROM activities ORDER BY name";
pub const EXPRESS_STARTS: &str = "SELECT arn, record FROM express_starts ORDER BY arn";
pub const USAGE: &str = "SELECT machine || '|' || hour || '|' || partition, record FROM usage \
    ORDER BY machine, hour, partition";
pub const TAGS: &str = "SELECT arn, tags FROM tags WHERE arn = $1";
pub const KEYS: &str = "SELECT id, record FROM api_keys ORDER BY id";
pub const PARTITIONS: &str = "SELECT value FROM stepwise_meta WHERE key = 'partitions'";
pub const PROPOSE_CLUSTER_SECRET: &str = "INSERT INTO stepwise_meta (key, value) \
    VALUES ('cluster_secret', $1) ON CONFLICT (key) DO NOTHING";
pub const CLUSTER_SECRET: &str = "SELECT value FROM stepwise_meta WHERE key = 'cluster_secret'";

/// Every statement above.
pub const ALL: &[&str] = &[
    PUT_MACHINE,
    PUT_REVISION,
    DELETE_MACHINE,
    PUT_EXECUTION,
    COUNT_EXECUTIONS,
    APPEND_EVENTS,
    PUT_TIMER,
    DELETE_TIMER,
    PUT_ACTIVITY,
    DELETE_ACTIVITY,
    PUT_EXPRESS_START,
    DELETE_EXPRESS_START,
    PUT_USAGE,
    PUT_TAGS,
    DELETE_TAGS,
    PUT_KEY,
    PROPOSE_PARTITIONS,
    FENCE,
    ANNOUNCE,
    MACHINE,
    MACHINES,
    REVISION,
    EXECUTION,
    RUNNING,
    PAGE,
    PAGE_AFTER,
    STATUS_PAGE,
    STATUS_PAGE_AFTER,
    COUNTS,
    EVENTS,
    FIRST_EVENTS,
    TIMERS,
    ACTIVITY,
    ACTIVITIES,
    EXPRESS_STARTS,
    USAGE,
    TAGS,
    KEYS,
    PARTITIONS,
    PROPOSE_CLUSTER_SECRET,
    CLUSTER_SECRET,
];
