export * from './common.js';
export * from './scopes.js';
export * from './limits.js';
export * from './permissions.js';
export * from './events.js';
export * from './key-format.js';
export * from './problem.js';
export * from './api.js';
