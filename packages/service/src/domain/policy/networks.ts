/**
 * Client networks (CIDR lists) with node's own BlockList, which matches IPv4 and IPv6 and knows
 * IPv4-mapped IPv6 addresses. A compiled list is built once per distinct list and shared.
 */
import { BlockList, isIP } from 'node:net';

export interface NetworkList {
  readonly cidrs: readonly string[];
  allows(address: string): boolean;
}

function parse(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address, prefix] = cidr.split('/') as [string, string | undefined];
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  return { address, prefix: prefix === undefined ? (family === 'ipv4' ? 32 : 128) : Number(prefix), family };
}

const compiled = new Map<string, NetworkList>();

/** An empty list allows every address. */
export function networkList(cidrs: readonly string[]): NetworkList {
  const cacheKey = cidrs.join(',');
  const cached = compiled.get(cacheKey);
  if (cached) return cached;
  const blocks = new BlockList();
  for (const cidr of cidrs) {
    const { address, prefix, family } = parse(cidr);
    blocks.addSubnet(address, prefix, family);
  }
  const list: NetworkList = {
    cidrs,
    allows(address) {
      if (cidrs.length === 0) return true;
      const family = isIP(address);
      if (family === 0) return false;
      return blocks.check(address, family === 6 ? 'ipv6' : 'ipv4');
    },
  };
  if (compiled.size > 10_000) compiled.clear();
  compiled.set(cacheKey, list);
  return list;
}

/** True when every address of `inner` is also in `outer`. */
export function cidrWithin(inner: string, outer: string): boolean {
  const a = parse(inner);
  const b = parse(outer);
  if (a.family !== b.family || a.prefix < b.prefix) return false;
  const blocks = new BlockList();
  blocks.addSubnet(b.address, b.prefix, b.family);
  return blocks.check(a.address, a.family);
}
