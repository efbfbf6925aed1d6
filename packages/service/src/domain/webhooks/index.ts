export * from './state.js';
export * from './evolve.js';
export * from './decide.js';
export * from './matching.js';
