/**
 * Summarises a V8 `.cpuprofile` (what `node --cpu-prof` writes): self time per function and per
 * area (our code, fastify, zod, Node's HTTP, GC, idle), as shares of the busy (non-idle) time.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  functions: { name: string; where: string; share: number }[];
  areas: { area: string; share: number }[];
}

/** Which part of the stack a frame's url belongs to. */
export function areaOf(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)') return 'V8/native (program)';
  if (url === '') return 'native/builtin';
  const pkg = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) {
    if (/node:_http|node:http|node:net|node:stream|node:internal\/(streams|http|net|stream_base)/.test(url)) return 'node http/net/streams';
    return 'node other';
  }
  const ours = /packages\/(service|schemas|sdk)\/dist\/(.*)$/.exec(url);
  if (ours) return `keyledger ${ours[1]}/${ours[2]!.split('/').slice(0, -1).join('/') || '.'}`;
  return url.replace(/^file:\/\//, '');
}

export function summariseProfile(path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let idle = 0;
  let busy = 0;
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const name = functionName || '(anonymous)';
    const file = url.replace(/^.*node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?/, '').replace(/^.*packages\//, '');
    const where = url === '' ? '' : `${file}:${lineNumber + 1}`;
    const key = `${name} ${where}`;
    const entry = fn.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    fn.set(key, entry);
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const share = (us: number) => Number(((100 * us) / busy).toFixed(1));
  return {
    busyMs: Math.round(busy / 1000),
    idleMs: Math.round(idle / 1000),
    functions: [...fn.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ name: f.name, where: f.where, share: share(f.us) })),
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, share: share(us) })),
  };
}
