//! A real PostgreSQL for this backend's unit tests (testkit's service on 127.0.0.1),
//! with `PgData` connected and migrated, and fixtures written as plain SQL.

use tellus_testkit::services::{or_skip, postgres::Postgres};

use super::PgData;

pub struct TestDb {
    // First: the pool closes before the server stops.
    pub data: PgData,
    _server: Postgres,
}

impl TestDb {
    /// None (said on stderr) when PostgreSQL is not installed and not required.
    pub fn start(test: &str) -> Option<TestDb> {
        let server = or_skip(Postgres::start(), test)?;
        let data = PgData::connect(server.url()).expect("connect and migrate");
        Some(TestDb {
            data,
            _server: server,
        })
    }

    /// Runs `sql` (several statements) as it is.
    pub fn exec(&self, sql: &str) {
        self.data
            .run(sqlx_core::raw_sql::raw_sql(sql).execute(self.data.pool()))
            .expect("fixture SQL");
    }

    /// The first column of the first row of `sql`, as text.
    pub fn text(&self, sql: &str) -> Option<String> {
        self.data
            .run(
                sqlx_core::query_scalar::query_scalar::<sqlx_postgres::Postgres, Option<String>>(
                    sql,
                )
                .fetch_optional(self.data.pool()),
            )
            .expect("query")
            .flatten()
    }
}

/// A project `p` with a visible story `s` (recordings `r1`, `r2`), a hidden story `h`
/// (recording `rh`) and a withdrawn one `w`.
pub const PROJECT_WITH_STORIES: &str = "
INSERT INTO projects VALUES ('p', 'Project', '{}', 0);
INSERT INTO stories (id, project_id, reporter_id, revision, document, updated_at, lead_visibility)
VALUES ('s', 'p', 'rep', 1, '{\"title\":\"Damp flats\"}', 0, 'visible'),
       ('h', 'p', 'rep', 1, '{\"title\":\"Hidden\"}', 0, 'hidden'),
       ('w', 'p', 'rep', 1, NULL, 0, 'withdrawn');
INSERT INTO recordings (id, representation, story_id, project_id, reporter_id, sha256, bytes, content_type, received_at)
VALUES ('r1', 'lossless', 's', 'p', 'rep', 'a', 1, 'audio/flac', 1),
       ('r1', 'listening', 's', 'p', 'rep', 'b', 1, 'audio/ogg', 2),
       ('r2', 'lossless', 's', 'p', 'rep', 'c', 1, 'audio/flac', 3),
       ('rh', 'lossless', 'h', 'p', 'rep', 'd', 1, 'audio/flac', 4);
";
