//! Retention: data older than the retention age goes, then the oldest data goes until the
//! database fits its size limit. Backends that stopped being probed before the cut go with their
//! data; backends still probed stay however old they are.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OptionalExtension, params};

use super::schema::storage;
use crate::error::Result;
use crate::store::StoreConfig;
use crate::store::codec::ms;
use crate::timeline::BackendRowId;

/// The least a size-driven cut removes at once: one minute of the oldest data.
pub const MIN_SIZE_STEP: Duration = Duration::from_secs(60);
/// A size-driven cut removes at least this fraction of the stored time span, so that a database
/// far over its limit fits again within a few rounds.
pub const SIZE_STEP_FRACTION: i64 = 10;
/// Rounds of size-driven cuts per run; the next run goes on if this was not enough.
pub const MAX_SIZE_ROUNDS: usize = 32;

/// What a retention run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Rows deleted.
    pub rows: u64,
    /// Backends deleted (removed before the cut).
    pub backends: Vec<BackendRowId>,
    /// Bytes of the database in use after the run.
    pub used_bytes: u64,
    /// Everything before this moment is gone (unix ms), if anything was cut.
    pub cut_ms: Option<i64>,
}

/// Bytes of the database's pages in use (free pages excluded).
pub fn used_bytes(conn: &Connection, path: &Path) -> Result<u64> {
    let pragma = |name: &str| -> Result<i64> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .map_err(storage(path, format!("read PRAGMA {name}")))
    };
    let used = (pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?;
    Ok(u64::try_from(used).unwrap_or(0))
}

/// Deletes everything older than `cut_ms` in one transaction.
fn cut(conn: &mut Connection, path: &Path, cut_ms: i64, swept: &mut Swept) -> Result<()> {
    let op = |what: &str| storage(path, format!("retention: {what}"));
    let tx = conn.transaction().map_err(op("begin"))?;
    let mut rows = 0;
    // Rollups have no index by time: delete along the primary key, backend by backend.
    {
        let ids: Vec<BackendRowId> = {
            let mut stmt = tx
                .prepare("SELECT id FROM backends")
                .map_err(op("list backends"))?;
            stmt.query_map([], |r| r.get(0))
                .and_then(Iterator::collect)
                .map_err(op("list backends"))?
        };
        let mut delete = tx
            .prepare("DELETE FROM rollups WHERE backend = ?1 AND second < ?2")
            .map_err(op("delete rollups"))?;
        for id in ids {
            rows += delete
                .execute(params![id, cut_ms.div_euclid(1000)])
                .map_err(op("delete rollups"))?;
        }
    }
    for (table, column) in [
        ("transitions", "at_ms"),
        ("lifecycle", "at_ms"),
        ("gaps", "to_ms"),
    ] {
        rows += tx
            .execute(
                &format!("DELETE FROM {table} WHERE {column} < ?1"),
                params![cut_ms],
            )
            .map_err(op(&format!("delete {table}")))?;
    }
    let backends: Vec<BackendRowId> = {
        let mut stmt = tx
            .prepare("SELECT id FROM backends WHERE removed_at_ms < ?1")
            .map_err(op("find removed backends"))?;
        stmt.query_map(params![cut_ms], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(op("find removed backends"))?
    };
    for id in &backends {
        rows += tx
            .execute("DELETE FROM agent_backends WHERE backend = ?1", params![id])
            .map_err(op("delete agent backends"))?;
        rows += tx
            .execute("DELETE FROM rollups WHERE backend = ?1", params![id])
            .map_err(op("delete rollups"))?;
        rows += tx
            .execute("DELETE FROM backends WHERE id = ?1", params![id])
            .map_err(op("delete backends"))?;
    }
    tx.commit().map_err(op("commit"))?;
    swept.rows += rows as u64;
    swept.backends.extend(backends);
    swept.cut_ms = Some(swept.cut_ms.map_or(cut_ms, |c| c.max(cut_ms)));
    Ok(())
}

/// The time of the oldest stored row (unix ms).
fn oldest_ms(conn: &Connection, path: &Path) -> Result<Option<i64>> {
    conn.query_row(
        "SELECT MIN(t) FROM (
             SELECT (SELECT MIN(second) FROM rollups WHERE backend = b.id) * 1000 AS t
                 FROM backends b
             UNION ALL SELECT MIN(at_ms) FROM transitions
             UNION ALL SELECT MIN(at_ms) FROM lifecycle
             UNION ALL SELECT MIN(from_ms) FROM gaps)",
        [],
        |r| r.get::<_, Option<i64>>(0),
    )
    .optional()
    .map(Option::flatten)
    .map_err(storage(path, "retention: find the oldest data"))
}

/// One retention run at `now`.
pub fn sweep(
    conn: &mut Connection,
    path: &Path,
    now: SystemTime,
    config: &StoreConfig,
) -> Result<Swept> {
    let mut swept = Swept::default();
    let age_cut = ms(now
        .checked_sub(config.retention)
        .unwrap_or(std::time::UNIX_EPOCH));
    cut(conn, path, age_cut, &mut swept)?;
    let mut used = used_bytes(conn, path)?;
    let now_ms = ms(now);
    for _ in 0..MAX_SIZE_ROUNDS {
        if used <= config.max_size {
            break;
        }
        let Some(oldest) = oldest_ms(conn, path)? else {
            break;
        };
        let min_step = i64::try_from(MIN_SIZE_STEP.as_millis()).unwrap_or(i64::MAX);
        let step = ((now_ms - oldest) / SIZE_STEP_FRACTION).max(min_step);
        cut(conn, path, oldest.saturating_add(step), &mut swept)?;
        used = used_bytes(conn, path)?;
    }
    if swept.rows > 0 {
        // Give the freed pages back to the file system (the pragma frees a page per step), and
        // the WAL's too.
        let op = || storage(path, "retention: give freed pages back");
        let mut stmt = conn.prepare("PRAGMA incremental_vacuum").map_err(op())?;
        let mut steps = stmt.query([]).map_err(op())?;
        while steps.next().map_err(op())?.is_some() {}
        drop(steps);
        drop(stmt);
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .map_err(op())?;
    }
    swept.used_bytes = used;
    Ok(swept)
}
