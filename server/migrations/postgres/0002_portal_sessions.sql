-- The portal's sessions (portal/session.rs), shared by every replica: the cookie's id
-- only as its hash, what the code opened (a story, or the code's hashes as JSON), the
-- session's CSRF token, and when it closes.
CREATE TABLE portal_sessions (
    id_hash TEXT PRIMARY KEY,
    project_id TEXT,
    story_id TEXT,
    hashes TEXT,
    csrf TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_sessions_expiry ON portal_sessions(expires_at);
