//! Copying a SQLite server's tables into PostgreSQL (`tellus admin migrate`, issue 19).
//!
//! Table-generic: [`TABLES`] names every table both schemas share (the same table and
//! column names, data/sqlite/schema.rs and migrations/postgres/), in an order where a
//! row's references are copied before it. The source is read in one SQLite transaction
//! ([`Snapshot`]); the target is written in one PostgreSQL transaction that inserts what
//! is missing (`ON CONFLICT DO NOTHING`), then reads every copied table back and
//! requires it to hold exactly the source's rows, then sets the feed's and the consent
//! log's sequences past the copied maximum. A second run inserts nothing; a target that
//! differs from the source (another server's database, or one written since) is refused
//! and rolled back, so nothing half-copied is ever committed.
//!
//! Left out: `uploads` (unfinished tus uploads: their received bytes are in the source's
//! spool folder, which a replica cannot reach; a phone whose upload is gone starts it
//! again, as after an expiry) and `portal_sessions` (a storyteller's session lasts
//! minutes; after the move they enter their code again). The search tables are rebuilt
//! for the target from their text (PostgreSQL computes their `tsvector` columns).

use std::collections::BTreeSet;

use rusqlite::types::Value;
use sqlx_core::row::Row;
use sqlx_postgres::PgConnection;

use super::postgres::{PgData, q};
use crate::db::Db;
use crate::error::{Error, Result};

/// How a column is stored in PostgreSQL (SQLite keeps flags as integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Bool,
}

/// How a table's rows are matched with the target's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// By its keys: a row whose key is there already is not inserted again.
    Key,
    /// An identity sequence (`seq`), copied with its values and set past them after.
    KeySequence,
    /// No key (a search index, one row per transcript segment): a recording's rows are
    /// copied when the target has none for it.
    ByRecording,
}

pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    matched: Match,
}

use Kind::{Bool, Int, Text};

const fn table(name: &'static str, columns: &'static [(&'static str, Kind)]) -> Table {
    Table {
        name,
        columns,
        matched: Match::Key,
    }
}

/// Every table copied, parents before children.
pub const TABLES: &[Table] = &[
    table(
        "projects",
        &[
            ("id", Text),
            ("name", Text),
            ("config", Text),
            ("created_at", Int),
        ],
    ),
    table(
        "invites",
        &[
            ("id", Text),
            ("code_hash", Text),
            ("project_id", Text),
            ("role", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
            ("revoked_at", Int),
        ],
    ),
    table(
        "principals",
        &[
            ("id", Text),
            ("token_hash", Text),
            ("role", Text),
            ("project_id", Text),
            ("label", Text),
            ("invite_id", Text),
            ("created_at", Int),
            ("revoked_at", Int),
        ],
    ),
    table(
        "stories",
        &[
            ("id", Text),
            ("project_id", Text),
            ("reporter_id", Text),
            ("revision", Int),
            ("document", Text),
            ("identity", Text),
            ("withdrawn_at", Int),
            ("updated_at", Int),
            ("story_date", Text),
            ("lead_visibility", Text),
        ],
    ),
    Table {
        name: "consent_events",
        columns: &[
            ("seq", Int),
            ("id", Text),
            ("story_id", Text),
            ("body", Text),
            ("received_at", Int),
        ],
        matched: Match::KeySequence,
    },
    table(
        "recordings",
        &[
            ("id", Text),
            ("representation", Text),
            ("story_id", Text),
            ("project_id", Text),
            ("reporter_id", Text),
            ("sha256", Text),
            ("bytes", Int),
            ("content_type", Text),
            ("pcm_sha256", Text),
            ("received_at", Int),
        ],
    ),
    Table {
        name: "changes",
        columns: &[
            ("seq", Int),
            ("project_id", Text),
            ("kind", Text),
            ("story_id", Text),
            ("recording_id", Text),
            ("revision", Int),
            ("sha256", Text),
            ("bytes", Int),
            ("at", Int),
            ("representation", Text),
            ("format", Text),
            ("pcm_sha256", Text),
        ],
        matched: Match::KeySequence,
    },
    table(
        "story_search",
        &[
            ("story_id", Text),
            ("title", Text),
            ("summary", Text),
            ("notes", Text),
        ],
    ),
    table(
        "web_links",
        &[
            ("secret_hash", Text),
            ("principal_id", Text),
            ("sealed_token", Text),
            ("expires_at", Int),
        ],
    ),
    table(
        "storyteller_codes",
        &[
            ("project_id", Text),
            ("code_hash", Text),
            ("story_id", Text),
            ("set_at", Int),
        ],
    ),
    table(
        "pending_withdrawals",
        &[
            ("project_id", Text),
            ("code_hash", Text),
            ("erase_audio", Bool),
            ("asked_at", Int),
            ("expires_at", Int),
        ],
    ),
    table(
        "transcripts",
        &[
            ("recording_id", Text),
            ("story_id", Text),
            ("project_id", Text),
            ("language", Text),
            ("source", Text),
            ("revision", Int),
            ("reviewed", Bool),
            ("segments", Text),
            ("updated_at", Int),
        ],
    ),
    table(
        "transcript_revisions",
        &[
            ("recording_id", Text),
            ("story_id", Text),
            ("revision", Int),
            ("source", Text),
            ("segments", Text),
            ("saved_by", Text),
            ("saved_at", Int),
        ],
    ),
    table(
        "transcript_jobs",
        &[
            ("recording_id", Text),
            ("story_id", Text),
            ("project_id", Text),
            ("state", Text),
            ("attempts", Int),
            ("not_before", Int),
            ("claimed_by", Text),
            ("lease_until", Int),
            ("last_error", Text),
            ("created_at", Int),
        ],
    ),
    table(
        "transcript_flags",
        &[
            ("id", Text),
            ("recording_id", Text),
            ("story_id", Text),
            ("project_id", Text),
            ("segment_start_ms", Int),
            ("suggested", Text),
            ("state", Text),
            ("created_at", Int),
            ("decided_at", Int),
        ],
    ),
    Table {
        name: "transcript_search",
        columns: &[
            ("recording_id", Text),
            ("story_id", Text),
            ("start_ms", Int),
            ("text", Text),
        ],
        matched: Match::ByRecording,
    },
];

/// One stored value, as both backends give it back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
}

impl Cell {
    pub fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => Some(*i),
            _ => None,
        }
    }

    fn from_sqlite(value: Value, kind: Kind, table: &str, column: &str) -> Result<Cell> {
        let odd = || {
            Error::internal(format!(
                "the source's {table}.{column} holds a value of an unexpected type"
            ))
        };
        Ok(match (value, kind) {
            (Value::Null, _) => Cell::Null,
            (Value::Integer(i), Kind::Int) => Cell::Int(i),
            (Value::Integer(i), Kind::Bool) => Cell::Bool(i != 0),
            (Value::Text(s), Kind::Text) => Cell::Text(s),
            // FTS5 columns keep what was inserted, which may be text.
            (Value::Text(s), Kind::Int) => Cell::Int(s.parse().map_err(|_| odd())?),
            (Value::Integer(i), Kind::Text) => Cell::Text(i.to_string()),
            _ => return Err(odd()),
        })
    }
}

/// Every copied table's rows, as the source held them at one moment.
pub struct Snapshot {
    pub tables: Vec<(&'static Table, Vec<Vec<Cell>>)>,
}

/// A recording's stored copy, as the source's `recordings` row describes it.
#[derive(Debug, Clone)]
pub struct RecordingCopy {
    pub id: String,
    pub representation: String,
    pub story_id: String,
    pub sha256: String,
    pub bytes: u64,
}

impl Snapshot {
    /// Reads every table of [`TABLES`] from `db` in one read transaction.
    pub fn read(db: &Db) -> Result<Snapshot> {
        db.with(|conn| {
            let tx = conn.transaction()?;
            let mut tables = Vec::with_capacity(TABLES.len());
            for table in TABLES {
                let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
                let sql = format!("SELECT {} FROM {}", names.join(", "), table.name);
                let mut stmt = tx.prepare(&sql)?;
                let mut rows = stmt.query([])?;
                let mut copied = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut cells = Vec::with_capacity(table.columns.len());
                    for (i, (column, kind)) in table.columns.iter().enumerate() {
                        let value: Value = row.get(i)?;
                        cells.push(Cell::from_sqlite(value, *kind, table.name, column)?);
                    }
                    copied.push(cells);
                }
                tables.push((table, copied));
            }
            Ok(Snapshot { tables })
        })
    }

    /// The rows of `name` (empty for a table not copied).
    pub fn rows(&self, name: &str) -> &[Vec<Cell>] {
        self.tables
            .iter()
            .find(|(table, _)| table.name == name)
            .map(|(_, rows)| rows.as_slice())
            .unwrap_or_default()
    }

    pub fn row_count(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows.len() as u64).sum()
    }

    /// Every stored copy of audio the source's `recordings` rows name.
    pub fn recordings(&self) -> Result<Vec<RecordingCopy>> {
        let bad = || Error::internal("a recordings row of the source cannot be read");
        self.rows("recordings")
            .iter()
            .map(|row| {
                let text = |i: usize| row.get(i).and_then(Cell::text).map(str::to_string);
                Ok(RecordingCopy {
                    id: text(0).ok_or_else(bad)?,
                    representation: text(1).ok_or_else(bad)?,
                    story_id: text(2).ok_or_else(bad)?,
                    sha256: text(5).ok_or_else(bad)?,
                    bytes: row
                        .get(6)
                        .and_then(Cell::int)
                        .and_then(|b| u64::try_from(b).ok())
                        .ok_or_else(bad)?,
                })
            })
            .collect()
    }
}

/// What the copy did to one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCopied {
    pub table: &'static str,
    /// Rows the source holds (and the target holds now).
    pub rows: u64,
    /// Rows this run inserted (0 on a second run).
    pub inserted: u64,
}

/// Most bind parameters in one statement (PostgreSQL's limit is 65535).
const PARAMS_PER_STATEMENT: usize = 30_000;

/// Copies `snapshot` into `pg` in one transaction, checking that the target then holds
/// exactly the source's rows (else nothing is committed).
pub fn copy_into(pg: &PgData, snapshot: &Snapshot) -> Result<Vec<TableCopied>> {
    pg.run(async {
        let mut transaction = pg.pool().begin().await?;
        let conn: &mut PgConnection = &mut transaction;
        // Nothing appends to the feed meanwhile (a target server already running).
        super::postgres::feed::lock_for_append(conn).await?;
        let mut copied = Vec::with_capacity(snapshot.tables.len());
        for (table, rows) in &snapshot.tables {
            let inserted = insert_missing(conn, table, rows).await?;
            check_same(conn, table, rows).await?;
            if table.matched == Match::KeySequence {
                set_sequence_past(conn, table.name).await?;
            }
            copied.push(TableCopied {
                table: table.name,
                rows: rows.len() as u64,
                inserted,
            });
        }
        transaction.commit().await?;
        Ok(copied)
    })
}

fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn insert_missing(conn: &mut PgConnection, table: &Table, rows: &[Vec<Cell>]) -> Result<u64> {
    let rows: Vec<&Vec<Cell>> = match table.matched {
        Match::ByRecording => {
            let present: BTreeSet<String> =
                q(&format!("SELECT DISTINCT recording_id FROM {}", table.name))
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<std::result::Result<_, _>>()?;
            rows.iter()
                .filter(|row| {
                    row.first()
                        .and_then(Cell::text)
                        .is_none_or(|id| !present.contains(id))
                })
                .collect()
        }
        Match::Key | Match::KeySequence => rows.iter().collect(),
    };
    let width = table.columns.len();
    let overriding = if table.matched == Match::KeySequence {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let mut inserted = 0;
    for batch in rows.chunks((PARAMS_PER_STATEMENT / width).max(1)) {
        let tuples: Vec<String> = (0..batch.len())
            .map(|r| {
                let params: Vec<String> =
                    (1..=width).map(|c| format!("${}", r * width + c)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}){overriding} VALUES {} ON CONFLICT DO NOTHING",
            table.name,
            column_list(table),
            tuples.join(", ")
        );
        let mut query = q(&sql);
        for row in batch {
            for (cell, (_, kind)) in row.iter().zip(table.columns) {
                query = match (kind, cell) {
                    (Kind::Text, Cell::Text(s)) => query.bind(Some(s.clone())),
                    (Kind::Text, _) => query.bind(None::<String>),
                    (Kind::Int, Cell::Int(i)) => query.bind(Some(*i)),
                    (Kind::Int, _) => query.bind(None::<i64>),
                    (Kind::Bool, Cell::Bool(b)) => query.bind(Some(*b)),
                    (Kind::Bool, _) => query.bind(None::<bool>),
                };
            }
        }
        inserted += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(inserted)
}

/// The target's rows of `table` must be exactly `source`'s (as a multiset).
async fn check_same(conn: &mut PgConnection, table: &Table, source: &[Vec<Cell>]) -> Result<()> {
    let sql = format!("SELECT {} FROM {}", column_list(table), table.name);
    let fetched = q(&sql).fetch_all(&mut *conn).await?;
    let mut target = Vec::with_capacity(fetched.len());
    for row in &fetched {
        let mut cells = Vec::with_capacity(table.columns.len());
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            cells.push(
                match kind {
                    Kind::Text => row.try_get::<Option<String>, _>(i)?.map(Cell::Text),
                    Kind::Int => row.try_get::<Option<i64>, _>(i)?.map(Cell::Int),
                    Kind::Bool => row.try_get::<Option<bool>, _>(i)?.map(Cell::Bool),
                }
                .unwrap_or(Cell::Null),
            );
        }
        target.push(cells);
    }
    let mut source: Vec<&Vec<Cell>> = source.iter().collect();
    let mut target: Vec<&Vec<Cell>> = target.iter().collect();
    source.sort();
    target.sort();
    if source == target {
        return Ok(());
    }
    let only_target = target.iter().find(|row| source.binary_search(row).is_err());
    let only_source = source.iter().find(|row| target.binary_search(row).is_err());
    let first_cell = |row: Option<&&Vec<Cell>>| {
        row.and_then(|r| r.first())
            .map(|c| format!("{c:?}"))
            .unwrap_or_else(|| "-".into())
    };
    Err(Error::Migrate(format!(
        "the target database's {} differ from the source's ({} rows there, {} here; first differing row keyed {} in the target, {} in the source): it holds another server's data or was written since an earlier migrate. Nothing was committed; migrate into an empty database (and an empty bucket or prefix)",
        table.name,
        target.len(),
        source.len(),
        first_cell(only_target),
        first_cell(only_source),
    )))
}

/// The next value of `table`'s identity `seq` comes after every copied one.
async fn set_sequence_past(conn: &mut PgConnection, table: &str) -> Result<()> {
    q(&format!(
        "SELECT setval(pg_get_serial_sequence('{table}', 'seq'), COALESCE((SELECT MAX(seq) FROM {table}), 0) + 1, false)"
    ))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables of the SQLite schema that migrate leaves behind, and why.
    const NOT_COPIED: &[&str] = &[
        // Unfinished uploads: their bytes are in the source's spool folder.
        "uploads",
        // The portal's sessions: minutes long; a storyteller enters their code again.
        "portal_sessions",
    ];

    /// Every table of the SQLite schema is copied with all its columns, or named in
    /// NOT_COPIED: a table or column added to the ladder cannot be left behind unseen.
    #[test]
    fn every_table_and_column_of_the_schema_is_copied_or_named_as_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("server.db")).unwrap();
        let schema: Vec<(String, Vec<String>)> = db
            .with(|c| {
                let mut stmt = c.prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'table'
                     AND name NOT LIKE 'sqlite_%'
                     AND sql NOT LIKE 'CREATE TABLE ''%' ORDER BY name",
                )?;
                let names = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut tables = Vec::new();
                for name in names {
                    let mut info = c.prepare(&format!("PRAGMA table_info({name})"))?;
                    let columns = info
                        .query_map([], |r| r.get::<_, String>(1))?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    tables.push((name, columns));
                }
                Ok(tables)
            })
            .unwrap();
        // FTS5's own shadow tables (story_search_data, ...) belong to their index.
        let fts: Vec<&str> = ["story_search", "transcript_search"].to_vec();
        let mut seen = Vec::new();
        for (name, columns) in &schema {
            if fts.iter().any(|f| name.starts_with(&format!("{f}_"))) {
                continue;
            }
            if NOT_COPIED.contains(&name.as_str()) {
                continue;
            }
            let table = TABLES
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("table {name} is neither copied nor in NOT_COPIED"));
            let mut copied: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
            let mut there: Vec<&str> = columns.iter().map(String::as_str).collect();
            copied.sort_unstable();
            there.sort_unstable();
            assert_eq!(copied, there, "the columns of {name}");
            seen.push(name.as_str());
        }
        for table in TABLES {
            assert!(
                seen.contains(&table.name),
                "{} is not in the schema",
                table.name
            );
        }
    }
}
