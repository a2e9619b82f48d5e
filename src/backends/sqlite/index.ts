export { openSqliteStore, SQLITE_DEFAULTS, type SqliteSettings, type SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { toStoreError } from './errors.js';
