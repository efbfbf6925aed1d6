import { z } from 'zod';

/** Management permissions carried by keys that call keyledger's own API. */
export const Permission = z
  .enum([
    'keys:read',
    'keys:write',
    'keys:verify',
    'events:read',
    'metrics:read',
    'consumers:read',
    'consumers:write',
    'plans:read',
    'plans:write',
    'billing:read',
    'audit:read',
    'webhooks:read',
    'webhooks:write',
    'leaks:write',
    'admin',
  ])
  .meta({ id: 'Permission', description: 'Management permission; admin implies all others' });
export type Permission = z.infer<typeof Permission>;

export function hasPermission(granted: readonly Permission[], needed: Permission): boolean {
  return granted.includes('admin') || granted.includes(needed);
}
