/**
 * Which addresses a webhook may be delivered to. Loopback, private, link-local, carrier-grade NAT,
 * multicast and reserved ranges are refused unless KEYLEDGER_WEBHOOK_ALLOW_PRIVATE=true: a
 * webhook URL is chosen by an API caller, and without this a caller could make keyledger post to
 * services only reachable from inside its network (SSRF).
 *
 * Checked twice: when the endpoint is created (a literal address, or every address its host
 * resolves to), and at every connection (the resolver the HTTP client uses refuses such
 * addresses), so a DNS answer that changes after creation (rebinding) does not get through.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { promises as dns } from 'node:dns';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** True for an address no public webhook should resolve to. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blocked.check(mapped[1] as string, 'ipv4');
  return blocked.check(address, 'ipv6');
}

export class PrivateTargetError extends Error {
  override name = 'PrivateTargetError';
}

const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/** Refuses a URL whose host is, or resolves to, a private address. Unresolvable hosts are refused too. */
export async function assertPublicTarget(rawUrl: string, allowPrivate: boolean): Promise<void> {
  if (allowPrivate) return;
  const host = hostOf(new URL(rawUrl));
  if (isIP(host) !== 0) {
    if (isPrivateAddress(host)) throw new PrivateTargetError(`${host} is a loopback, private or reserved address`);
    return;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await dns.lookup(host, { all: true });
  } catch {
    throw new PrivateTargetError(`${host} does not resolve`);
  }
  const bad = addresses.find((entry) => isPrivateAddress(entry.address));
  if (bad) throw new PrivateTargetError(`${host} resolves to ${bad.address}, a loopback, private or reserved address`);
}

/** A `lookup` for net.connect that fails on private addresses: the connection-time check. */
export function publicOnlyLookup(allowPrivate: boolean): typeof dnsLookup {
  if (allowPrivate) return dnsLookup;
  const lookup = (hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...(options as object), all: true }, (error, addresses) => {
      if (error) return callback(error);
      const list = addresses as LookupAddress[];
      const bad = list.find((entry) => isPrivateAddress(entry.address));
      if (bad) return callback(new PrivateTargetError(`${hostname} resolves to ${bad.address}, a private address`));
      if ((options as { all?: boolean }).all) return callback(null, list);
      const first = list[0] as LookupAddress;
      return callback(null, first.address, first.family);
    });
  };
  return lookup as unknown as typeof dnsLookup;
}
