-- The PostgreSQL schema: the tables of the SQLite ladder (server/src/data/sqlite/schema.rs)
-- at its latest step (9), with the same table and column names so the two
-- implementations read alike. Differences, each for PostgreSQL's sake:
--   * times in ms since the epoch, counts and sizes are BIGINT; flags are BOOLEAN;
--   * the sequences (consent_events.seq, changes.seq) are identity columns; the feed's
--     appends are serialised by the appending transaction (data/postgres/feed.rs), since
--     a sequence's values can commit out of order;
--   * `uploads."offset"` is quoted: OFFSET is a reserved word;
--   * the FTS5 tables are plain tables with a generated tsvector column and a GIN index
--     ('simple' configuration: no stemming, no stop words, like FTS5's unicode61; accents
--     are kept, as `unaccent` is an extension a hosted database may not offer).
-- JSON documents stay TEXT: the server parses them in Rust and never queries inside them.

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE invites (
    id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    project_id TEXT REFERENCES projects(id),
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);

-- A device (reporter or lead) or an operator, with its bearer token's SHA-256.
CREATE TABLE principals (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    project_id TEXT REFERENCES projects(id),
    label TEXT NOT NULL,
    invite_id TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- document is NULL for a stub (consent arrived first) and after a withdrawal; the real
-- name and contact live apart from the story text, in identity.
CREATE TABLE stories (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    reporter_id TEXT NOT NULL,
    revision BIGINT NOT NULL,
    document TEXT,
    identity TEXT,
    withdrawn_at BIGINT,
    updated_at BIGINT NOT NULL,
    story_date TEXT,
    lead_visibility TEXT NOT NULL DEFAULT 'hidden'
        CHECK (lead_visibility IN ('hidden', 'visible', 'withdrawn'))
);
CREATE INDEX stories_project_date ON stories(project_id, story_date);
CREATE INDEX stories_project_visibility ON stories(project_id, lead_visibility);

CREATE TABLE consent_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    story_id TEXT NOT NULL REFERENCES stories(id),
    body TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX consent_events_story ON consent_events(story_id, seq);

CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    reporter_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    recording_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    length BIGINT,
    "offset" BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    representation TEXT NOT NULL DEFAULT 'lossless',
    pcm_sha256 TEXT
);
CREATE INDEX uploads_story ON uploads(story_id);

-- One row per recording and representation (the lossless copy, a listening copy).
CREATE TABLE recordings (
    id TEXT NOT NULL,
    representation TEXT NOT NULL DEFAULT 'lossless'
        CHECK (representation IN ('lossless', 'listening')),
    story_id TEXT NOT NULL REFERENCES stories(id),
    project_id TEXT NOT NULL,
    reporter_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    pcm_sha256 TEXT,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (id, representation)
);
CREATE INDEX recordings_story ON recordings(story_id);

-- The lead feed: every story revision, delivered recording and withdrawal, in order.
CREATE TABLE changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    story_id TEXT NOT NULL,
    recording_id TEXT,
    revision BIGINT,
    sha256 TEXT,
    bytes BIGINT,
    at BIGINT NOT NULL,
    representation TEXT,
    format TEXT,
    pcm_sha256 TEXT
);
CREATE INDEX changes_project ON changes(project_id, seq);

-- Full-text search of stories (crate::search): one row per story that has text,
-- rewritten on every PUT and deleted on withdrawal.
CREATE TABLE story_search (
    story_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    notes TEXT NOT NULL,
    words tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A')
        || setweight(to_tsvector('simple', summary), 'B')
        || setweight(to_tsvector('simple', notes), 'C')
    ) STORED
);
CREATE INDEX story_search_words ON story_search USING GIN (words);

-- One-time sign-in links for the leads' web page (web/links.rs).
CREATE TABLE web_links (
    secret_hash TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals(id),
    sealed_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Storytellers' personal codes (portal/codes.rs), keyed by project.
CREATE TABLE storyteller_codes (
    project_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    story_id TEXT NOT NULL UNIQUE REFERENCES stories(id),
    set_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, code_hash)
);

-- Withdrawals asked for on the portal with a code the server did not know yet.
CREATE TABLE pending_withdrawals (
    project_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    erase_audio BOOLEAN NOT NULL,
    asked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, code_hash)
);
CREATE INDEX pending_withdrawals_expiry ON pending_withdrawals(expires_at);

-- Transcripts (transcripts/): current text, revisions, the machine-draft queue,
-- storytellers' flags, and a full-text index with one row per segment.
CREATE TABLE transcripts (
    recording_id TEXT PRIMARY KEY,
    story_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    language TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('machine', 'person')),
    revision BIGINT NOT NULL,
    reviewed BOOLEAN NOT NULL DEFAULT FALSE,
    segments TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX transcripts_story ON transcripts(story_id);

CREATE TABLE transcript_revisions (
    recording_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    revision BIGINT NOT NULL,
    source TEXT NOT NULL,
    segments TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at BIGINT NOT NULL,
    PRIMARY KEY (recording_id, revision)
);
CREATE INDEX transcript_revisions_story ON transcript_revisions(story_id);

CREATE TABLE transcript_jobs (
    recording_id TEXT PRIMARY KEY,
    story_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'done', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    not_before BIGINT NOT NULL,
    claimed_by TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX transcript_jobs_due ON transcript_jobs(state, not_before);
CREATE INDEX transcript_jobs_story ON transcript_jobs(story_id);

CREATE TABLE transcript_flags (
    id TEXT PRIMARY KEY,
    recording_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    segment_start_ms BIGINT NOT NULL,
    suggested TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'rejected')),
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX transcript_flags_story ON transcript_flags(story_id);
CREATE INDEX transcript_flags_open ON transcript_flags(project_id, state);

-- One row per transcript segment, so that a hit names the moment.
CREATE TABLE transcript_search (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recording_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    text TEXT NOT NULL,
    words tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
);
CREATE INDEX transcript_search_recording ON transcript_search(recording_id);
CREATE INDEX transcript_search_story ON transcript_search(story_id);
CREATE INDEX transcript_search_words ON transcript_search USING GIN (words);
