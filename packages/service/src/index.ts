export * from './store/port.js';
export * from './store/errors.js';
export { openSqliteEventStore } from './store/sqlite/index.js';
export { openPostgresEventStore } from './store/postgres/index.js';
export { loadConfig, ConfigError, type Config } from './config/config.js';
export { createKeyledger, type Keyledger } from './app/keyledger.js';
export { createLogger } from './logging.js';
