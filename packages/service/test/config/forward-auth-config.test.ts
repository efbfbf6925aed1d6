/** The forward-auth settings: defaults, parsing, and a bad value named at start. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';

function errorFor(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('forward-auth configuration', () => {
  it('defaults: key from Authorization: Bearer or X-API-Key, no scope map, loopback proxies trusted', () => {
    expect(loadConfig({}).forwardAuth).toEqual({
      keyFrom: [{ from: 'bearer' }, { from: 'header', name: 'x-api-key' }],
      scopes: [],
      trustedProxies: ['127.0.0.0/8', '::1'],
    });
  });

  it('parses key sources, the route-to-scope map and proxy ranges; an empty proxy list trusts no one', () => {
    const config = loadConfig({
      KEYLEDGER_FORWARD_AUTH_KEY_FROM: 'header:X-Key, query:api_key,bearer',
      KEYLEDGER_FORWARD_AUTH_SCOPES: '{"GET /orders/*":["orders:read"],"* /admin/**":["admin:all","audit:read"]}',
      KEYLEDGER_TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.7,fd00::/8',
    });
    expect(config.forwardAuth).toEqual({
      keyFrom: [{ from: 'header', name: 'x-key' }, { from: 'query', name: 'api_key' }, { from: 'bearer' }],
      scopes: [
        { rule: 'GET /orders/*', scopes: ['orders:read'] },
        { rule: '* /admin/**', scopes: ['admin:all', 'audit:read'] },
      ],
      trustedProxies: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8'],
    });
    expect(loadConfig({ KEYLEDGER_TRUSTED_PROXIES: '' }).forwardAuth.trustedProxies).toEqual([]);
  });

  it('names each bad setting', () => {
    expect(errorFor({ KEYLEDGER_FORWARD_AUTH_KEY_FROM: 'cookie:session' })).toMatch(/KEYLEDGER_FORWARD_AUTH_KEY_FROM: 'cookie:session' is not bearer/);
    expect(errorFor({ KEYLEDGER_FORWARD_AUTH_KEY_FROM: ',' })).toMatch(/KEYLEDGER_FORWARD_AUTH_KEY_FROM: name at least one/);
    expect(errorFor({ KEYLEDGER_FORWARD_AUTH_SCOPES: '{not json' })).toMatch(/KEYLEDGER_FORWARD_AUTH_SCOPES: must be a JSON object/);
    expect(errorFor({ KEYLEDGER_FORWARD_AUTH_SCOPES: '{"/orders":["orders:read"]}' })).toMatch(/KEYLEDGER_FORWARD_AUTH_SCOPES/);
    expect(errorFor({ KEYLEDGER_FORWARD_AUTH_SCOPES: '{"GET /orders":["Orders Read"]}' })).toMatch(/KEYLEDGER_FORWARD_AUTH_SCOPES/);
    expect(errorFor({ KEYLEDGER_TRUSTED_PROXIES: '10.0.0.0/33' })).toMatch(/KEYLEDGER_TRUSTED_PROXIES: '10.0.0.0\/33' is not an IP address or CIDR range/);
    expect(errorFor({ KEYLEDGER_TRUSTED_PROXIES: 'gateway.local' })).toMatch(/KEYLEDGER_TRUSTED_PROXIES/);
  });
});
