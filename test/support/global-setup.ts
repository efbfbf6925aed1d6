/**
 * vitest globalSetup: runs once before any test file. Says in one line, first thing, which tests
 * will skip for want of PostgreSQL / Redis and what to set (the default reporter only counts
 * skips, it never says why); fails the run at once if CI requires them and they are missing.
 */
import { servicesNotice } from './services.js';

export default function setup(): void {
  const notice = servicesNotice();
  if (notice) process.stdout.write(`${notice}\n`);
}
