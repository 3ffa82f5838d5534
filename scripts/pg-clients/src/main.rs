//! Compares PostgreSQL client crates on the shape of Stepwise's group commit: one
//! transaction per group, each group `GROUP` executions' writes (an execution row upsert
//! and an events row insert each), on one connection, groups one after another.
//!
//! Usage: `cargo run --release -- URL [GROUPS] [GROUP] [ROUNDS]` (a database it may create
//! two tables in). Forms measured, interleaved round by round:
//! - `tokio-postgres pipelined`: BEGIN, the statements and COMMIT sent together (the
//!   store's form: one round trip per group);
//! - `tokio-postgres awaited`: each statement awaited before the next;
//! - `sqlx`: `begin()`, each statement executed on the transaction, `commit()` (sqlx
//!   sends one statement at a time on a connection);
//! - `tokio-postgres pipelined, arrays`: the store's form, each table's rows in one
//!   statement (`UNNEST` of arrays);
//! - `sqlx, arrays`: the same, each table's rows in one statement (`UNNEST` of arrays);
//! and point reads (one row by key) with each crate.

use futures_util::future::{join3, join_all};
use std::time::Instant;
use tokio_postgres::types::ToSql;

const SCHEMA: &str = "
DROP TABLE IF EXISTS bench_executions, bench_events;
CREATE TABLE bench_executions (arn text COLLATE \"C\" PRIMARY KEY, status text NOT NULL,
    record bytea NOT NULL);
CREATE TABLE bench_events (execution text COLLATE \"C\" NOT NULL, first_id bigint NOT NULL,
    events bytea NOT NULL, PRIMARY KEY (execution, first_id));";
const PUT_EXECUTION: &str =
    "INSERT INTO bench_executions (arn, status, record) VALUES ($1, $2, $3) \
    ON CONFLICT (arn) DO UPDATE SET status = EXCLUDED.status, record = EXCLUDED.record";
const APPEND_EVENTS: &str =
    "INSERT INTO bench_events (execution, first_id, events) VALUES ($1, $2, $3)";
const PUT_EXECUTIONS: &str = "INSERT INTO bench_executions (arn, status, record) \
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[]) \
    ON CONFLICT (arn) DO UPDATE SET status = EXCLUDED.status, record = EXCLUDED.record";
const APPEND_EVENTS_ARRAYS: &str = "INSERT INTO bench_events (execution, first_id, events) \
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bytea[])";
const READ: &str = "SELECT record FROM bench_executions WHERE arn = $1";

fn arn(form: &str, round: usize, group: usize, i: usize) -> String {
    format!("arn:aws:states:us-east-1:000000000000:execution:bench:{form}-{round}-{group}-{i}")
}

async fn tp_group(
    client: &tokio_postgres::Client,
    put: &tokio_postgres::Statement,
    append: &tokio_postgres::Statement,
    arns: &[String],
    record: &[u8],
    pipelined: bool,
) {
    let status = "RUNNING".to_string();
    let first = 1i64;
    let params: Vec<[&(dyn ToSql + Sync); 3]> = arns
        .iter()
        .map(|a| [a as _, &status as _, &record as _])
        .collect();
    let events: Vec<[&(dyn ToSql + Sync); 3]> = arns
        .iter()
        .map(|a| [a as _, &first as _, &record as _])
        .collect();
    if pipelined {
        let body = join_all(
            params
                .iter()
                .map(|p| client.execute(put, p))
                .chain(events.iter().map(|p| client.execute(append, p))),
        );
        let (b, d, c) = join3(
            client.batch_execute("BEGIN"),
            body,
            client.batch_execute("COMMIT"),
        )
        .await;
        b.unwrap();
        for r in d {
            r.unwrap();
        }
        c.unwrap();
    } else {
        client.batch_execute("BEGIN").await.unwrap();
        for p in &params {
            client.execute(put, p).await.unwrap();
        }
        for p in &events {
            client.execute(append, p).await.unwrap();
        }
        client.batch_execute("COMMIT").await.unwrap();
    }
}

/// The store's pipelined form with each table's rows as arrays: one round trip, two
/// statements.
async fn tp_arrays_group(
    client: &tokio_postgres::Client,
    put: &tokio_postgres::Statement,
    append: &tokio_postgres::Statement,
    arns: &[String],
    record: &[u8],
) {
    let statuses = vec!["RUNNING".to_string(); arns.len()];
    let records = vec![record.to_vec(); arns.len()];
    let firsts = vec![1i64; arns.len()];
    let arns = arns.to_vec();
    let (b, p, a, c) = futures_util::future::join4(
        client.batch_execute("BEGIN"),
        client.execute(put, &[&arns, &statuses, &records]),
        client.execute(append, &[&arns, &firsts, &records]),
        client.batch_execute("COMMIT"),
    )
    .await;
    b.unwrap();
    p.unwrap();
    a.unwrap();
    c.unwrap();
}

async fn sqlx_group(conn: &mut sqlx::PgConnection, arns: &[String], record: &[u8]) {
    use sqlx::Connection;
    let mut tx = conn.begin().await.unwrap();
    for a in arns {
        sqlx::query(PUT_EXECUTION)
            .bind(a)
            .bind("RUNNING")
            .bind(record)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for a in arns {
        sqlx::query(APPEND_EVENTS)
            .bind(a)
            .bind(1i64)
            .bind(record)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The same writes as one statement per table, the group's rows as arrays (`UNNEST`):
/// what sqlx needs to make a group cost few round trips.
async fn sqlx_arrays_group(conn: &mut sqlx::PgConnection, arns: &[String], record: &[u8]) {
    use sqlx::Connection;
    let statuses = vec!["RUNNING".to_string(); arns.len()];
    let records = vec![record.to_vec(); arns.len()];
    let firsts = vec![1i64; arns.len()];
    let mut tx = conn.begin().await.unwrap();
    sqlx::query(PUT_EXECUTIONS)
        .bind(arns)
        .bind(&statuses)
        .bind(&records)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(APPEND_EVENTS_ARRAYS)
        .bind(arns)
        .bind(&firsts)
        .bind(&records)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: pg-clients URL [GROUPS] [GROUP] [ROUNDS]")
        .clone();
    let groups: usize = args.get(2).map_or(300, |s| s.parse().unwrap());
    let size: usize = args.get(3).map_or(16, |s| s.parse().unwrap());
    let rounds: usize = args.get(4).map_or(5, |s| s.parse().unwrap());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute(SCHEMA).await.unwrap();
    let put = client.prepare(PUT_EXECUTION).await.unwrap();
    let append = client.prepare(APPEND_EVENTS).await.unwrap();
    let put_arrays = client.prepare(PUT_EXECUTIONS).await.unwrap();
    let append_arrays = client.prepare(APPEND_EVENTS_ARRAYS).await.unwrap();
    let read = client.prepare(READ).await.unwrap();
    use sqlx::Connection;
    let mut sq = sqlx::PgConnection::connect(&url).await.unwrap();
    let record = vec![b'x'; 600];
    let forms = [
        "tokio-postgres pipelined",
        "tokio-postgres pipelined, arrays",
        "tokio-postgres awaited",
        "sqlx",
        "sqlx, arrays",
    ];
    let mut rates: Vec<Vec<f64>> = vec![vec![]; forms.len()];
    let mut reads: Vec<Vec<f64>> = vec![vec![]; 2];
    println!(
        "{groups} groups of {size} executions ({} statements + BEGIN/COMMIT each), {rounds} rounds",
        2 * size
    );
    for round in 0..rounds {
        for (f, form) in forms.iter().enumerate() {
            let tag = ["tp", "tpa", "ta", "sq", "sa"][f];
            let start = Instant::now();
            for g in 0..groups {
                let arns: Vec<String> = (0..size).map(|i| arn(tag, round, g, i)).collect();
                match f {
                    0 => tp_group(&client, &put, &append, &arns, &record, true).await,
                    1 => {
                        tp_arrays_group(&client, &put_arrays, &append_arrays, &arns, &record).await
                    }
                    2 => tp_group(&client, &put, &append, &arns, &record, false).await,
                    3 => sqlx_group(&mut sq, &arns, &record).await,
                    _ => sqlx_arrays_group(&mut sq, &arns, &record).await,
                }
            }
            let secs = start.elapsed().as_secs_f64();
            let per_s = (groups * size) as f64 / secs;
            rates[f].push(per_s);
            println!(
                "round {round} {form:<26} {:>8.0} executions/s  {:>6.2} ms/commit",
                per_s,
                secs * 1000.0 / groups as f64
            );
        }
        // Point reads, each crate in turn.
        for c in 0..2 {
            let mut took = Vec::new();
            for i in 0..2000 {
                let key = arn("tp", round, i % groups, i % size);
                let t = Instant::now();
                if c == 0 {
                    client.query_one(&read, &[&key]).await.unwrap();
                } else {
                    sqlx::query(READ)
                        .bind(&key)
                        .fetch_one(&mut sq)
                        .await
                        .unwrap();
                }
                took.push(t.elapsed().as_secs_f64() * 1e6);
            }
            println!(
                "round {round} read {:<21} p50 {:>6.0} us  p99 {:>6.0} us",
                ["tokio-postgres", "sqlx"][c],
                pct(took.clone(), 0.5),
                pct(took.clone(), 0.99)
            );
            reads[c].push(pct(took, 0.5));
        }
    }
    println!("--- medians over {rounds} rounds (min-max)");
    for (f, form) in forms.iter().enumerate() {
        let v = &rates[f];
        println!(
            "{form:<26} {:>8.0} executions/s ({:.0}-{:.0})",
            pct(v.clone(), 0.5),
            pct(v.clone(), 0.0),
            pct(v.clone(), 1.0)
        );
    }
    for c in 0..2 {
        let v = &reads[c];
        println!(
            "read {:<21} p50 {:>6.0} us ({:.0}-{:.0})",
            ["tokio-postgres", "sqlx"][c],
            pct(v.clone(), 0.5),
            pct(v.clone(), 0.0),
            pct(v.clone(), 1.0)
        );
    }
}
