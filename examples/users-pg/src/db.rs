//! The database: its name in verge.toml, the schema's migrations, and running a statement with
//! the schema in place.

use verge_sdk::pg::{Connection, DbError, Value};

/// The database the manifest grants (`databases = ["main"]`).
pub const DATABASE: &str = "main";

/// The schema, one step at a time: each runs once, in order, recorded in `schema_migrations`.
/// Add a step at the end; never change one that has run.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE IF NOT EXISTS users (
           id bigserial PRIMARY KEY,
           name text NOT NULL,
           email text NOT NULL,
           created_at timestamptz NOT NULL DEFAULT now())",
    ),
    // Emails are unique whatever their case: a duplicate POST gets 409, even two at once.
    (2, "CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email))"),
];

/// Serialises migrations across concurrent requests (pg_advisory_xact_lock's key).
const MIGRATION_LOCK: i64 = 0x7573_6572_735f_7067; // "users_pg"

/// Runs the migrations not applied yet, in one transaction under an advisory lock, so that
/// requests arriving together apply each step once. Returns how many it applied.
pub fn migrate(db: &Connection) -> Result<usize, DbError> {
    db.transaction(|tx| {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[Value::Int(MIGRATION_LOCK)])?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            &[],
        )?;
        let done: Vec<i64> = tx.query("SELECT version FROM schema_migrations", &[])?.iter().filter_map(|r| r.at(0).and_then(Value::as_i64)).collect();
        let mut applied = 0;
        for (version, statement) in MIGRATIONS {
            if done.contains(version) {
                continue;
            }
            tx.execute(statement, &[])?;
            tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[Value::Int(*version)])?;
            applied += 1;
        }
        Ok(applied)
    })
}

/// Runs `f`; if a table is missing (a fresh database), migrates and runs it once more.
pub fn with_schema<T, F>(db: &Connection, f: F) -> Result<T, DbError>
where
    F: Fn(&Connection) -> Result<T, DbError>,
{
    match f(db) {
        Err(e) if e.is_undefined_table() => {
            migrate(db)?;
            f(db)
        }
        other => other,
    }
}
