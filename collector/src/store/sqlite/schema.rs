//! The database schema and its migrations. `PRAGMA user_version` holds the number of migrations
//! applied; each migration runs in its own transaction together with the version bump, so a
//! crash leaves the database at one version or the next.

use std::path::Path;

use probesim_agent::lb::outcome::Outcome;
use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::timeline::rollup::LATENCY_SLOTS;

/// The rollup columns after `backend, second`: verdict counts, one count per outcome kind
/// (`o_<kind>`, in [`Outcome::KINDS`] order) and one per latency bucket (`l_<index>`). Fixed
/// columns make "add this second's counts" a plain SQL upsert. Adding an outcome kind or a
/// bucket needs a migration that adds its column (a test checks this).
pub fn rollup_columns() -> Vec<String> {
    let mut columns: Vec<String> = ["successes", "failures", "not_counted"]
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    columns.extend(Outcome::KINDS.iter().map(|k| format!("o_{k}")));
    columns.extend((0..LATENCY_SLOTS).map(|i| format!("l_{i}")));
    columns
}

fn v1() -> String {
    let counts: String = rollup_columns()
        .iter()
        .map(|c| format!("    {c} INTEGER NOT NULL DEFAULT 0,\n"))
        .collect();
    format!(
        "CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    node TEXT,
    cloud TEXT,
    k8s_version TEXT,
    what_if_versions TEXT,
    build TEXT,
    connected_at_ms INTEGER,
    connected INTEGER NOT NULL DEFAULT 0,
    disconnected_at_ms INTEGER,
    last_sequence INTEGER NOT NULL DEFAULT 0,
    last_batch_at_ms INTEGER,
    dropped_results INTEGER NOT NULL DEFAULT 0,
    dropped_transitions INTEGER NOT NULL DEFAULT 0,
    dropped_lifecycle INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE backends (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    lb TEXT NOT NULL,
    service TEXT NOT NULL,
    node TEXT NOT NULL,
    version TEXT NOT NULL,
    spec TEXT NOT NULL,
    probers INTEGER NOT NULL,
    also_for TEXT NOT NULL DEFAULT '',
    first_seen_ms INTEGER NOT NULL,
    removed_at_ms INTEGER
);
CREATE TABLE agent_backends (
    agent TEXT NOT NULL,
    backend_id INTEGER NOT NULL,
    backend INTEGER NOT NULL,
    PRIMARY KEY (agent, backend_id)
) WITHOUT ROWID;
CREATE TABLE transitions (
    backend INTEGER NOT NULL,
    prober INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    reason TEXT,
    reason_status INTEGER
);
CREATE INDEX transitions_by_backend ON transitions (backend, at_ms);
CREATE INDEX transitions_by_time ON transitions (at_ms);
CREATE TABLE rollups (
    backend INTEGER NOT NULL,
    second INTEGER NOT NULL,
{counts}    PRIMARY KEY (backend, second)
) WITHOUT ROWID;
-- No index by time: one more B-tree to insert into for every new row. Retention deletes per
-- backend along the primary key instead.
CREATE TABLE lifecycle (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    kind TEXT NOT NULL,
    object TEXT NOT NULL,
    node TEXT,
    address TEXT,
    object_time_ms INTEGER,
    seen_at_ms INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX lifecycle_by_time ON lifecycle (at_ms);
CREATE TABLE gaps (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    from_ms INTEGER NOT NULL,
    to_ms INTEGER NOT NULL,
    results INTEGER NOT NULL,
    transitions INTEGER NOT NULL,
    lifecycle INTEGER NOT NULL
);
CREATE INDEX gaps_by_time ON gaps (to_ms);
"
    )
}

/// Every migration, in order: migration `i` brings the schema from version `i` to `i + 1`.
fn migrations() -> Vec<String> {
    vec![v1()]
}

/// The schema version this build writes.
pub fn current_version() -> i64 {
    migrations().len() as i64
}

/// Turns a SQLite error into one naming the database and the operation.
pub fn storage(path: &Path, op: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
    let (path, op) = (path.to_owned(), op.into());
    move |source| Error::Storage { path, op, source }
}

/// Sets the connection up (WAL, full sync on commit) and brings the schema up to date.
pub fn prepare(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(storage(path, "read the schema version"))?;
    if version == 0 {
        // Only takes effect before the first table exists; lets retention give pages back.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(storage(path, "set auto_vacuum"))?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(storage(path, "set journal_mode=WAL"))?;
    // FULL: a commit is on disk when it returns, so an acknowledged batch survives a power cut.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(storage(path, "set synchronous=FULL"))?;
    let supported = current_version();
    if version > supported {
        return Err(Error::SchemaTooNew {
            path: path.to_owned(),
            found: version,
            supported,
        });
    }
    for (index, sql) in migrations().iter().enumerate().skip(version as usize) {
        let to = index as i64 + 1;
        let op = format!("migrate to schema {to}");
        let tx = conn.transaction().map_err(storage(path, op.clone()))?;
        tx.execute_batch(sql).map_err(storage(path, op.clone()))?;
        tx.pragma_update(None, "user_version", to)
            .map_err(storage(path, op.clone()))?;
        tx.commit().map_err(storage(path, op))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::rollup::OUTCOME_SLOTS;

    #[test]
    fn the_rollup_columns_of_schema_1_cover_exactly_todays_outcome_kinds_and_buckets() {
        // Schema 1 has 17 outcome columns and 15 latency columns. A new outcome kind or bucket
        // needs a migration that adds its column to databases created before it; then update
        // these numbers.
        assert_eq!(OUTCOME_SLOTS, 17, "outcome kinds changed: add a migration");
        assert_eq!(
            LATENCY_SLOTS, 15,
            "latency buckets changed: add a migration"
        );
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&v1()).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info('rollups')")
            .unwrap();
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut expected = vec!["backend".to_owned(), "second".to_owned()];
        expected.extend(rollup_columns());
        assert_eq!(names, expected);
    }
}
