import { KeyProjection } from './src/projections/key-projection.ts';
import { decodeKeyStates } from './src/projections/key-snapshot-codec.ts';
import { createHash } from 'node:crypto';
const N = 100_000;
const p = new KeyProjection();
const at = new Date().toISOString();
let t = performance.now();
const events = [];
for (let i = 0; i < N; i++) {
  const data = { keyId: `key_${String(i).padStart(20, '0')}`, consumerId: `consumer-${i % 20000}`, planId: 'pro', name: i % 10 < 3 ? `service ${i}` : null, environment: 'live', digest: createHash('sha256').update(String(i)).digest('hex'), hint: 'kl_live_…abcd', scopes: ['orders:read'], endpoints: [], permissions: [], expiresAt: null, meta: { tenant: `consumer-${i % 20000}`, tier: 'pro' }, rateLimit: { limit: 100, windowSeconds: 1 }, quota: { limit: 1000, period: 'day' }, rotatedFrom: null };
  events.push({ id: 'x', stream: 's', category: 'key', revision: 0, type: 'KeyIssued', data, metadata: { occurredAt: at }, checkpoint: String(i), recordedAt: new Date() });
}
console.log('build', performance.now() - t);
t = performance.now();
for (const e of events) p.apply(e as never);
console.log('apply', performance.now() - t);
t = performance.now(); const bytes = p.encodeSnapshot(); console.log('encode', performance.now() - t);
t = performance.now(); decodeKeyStates(bytes); console.log('decode only', performance.now() - t);
const q = new KeyProjection();
t = performance.now(); q.restoreSnapshot(bytes); console.log('restore', performance.now() - t);
