/**
 * A consumer's (or a plan's) usage report for one UTC calendar month, replayed from the ledger:
 * units by key, by day and by outcome, and the charge, each unit priced with the plan version in
 * force when it was used. Pure: given the same usage and plans it gives the same report, so a
 * closed period reads the same on every instance and after every restart and rebuild.
 *
 * Flat fees: one per plan the consumer held an active key on at any time in the period, at the
 * version in force at the start of the period (or when its first key there was issued).
 */
import type { UsageReport, VerifyCode } from '@keyledger/schemas';
import { DomainError } from '../errors.js';
import { chargeFor, type PricedSlice } from '../policy/pricing.js';
import { type PlanState, versionAt } from '../plans/index.js';

/** Verifications of one key over one interval (what UsageRecorded / UsageBatchRecorded carry). */
export interface UsageSlice {
  keyId: string;
  from: string;
  counts: Partial<Record<VerifyCode, number>>;
  units: number;
}

/** The keys the report covers, with what pricing needs of each. */
export interface ReportedKey {
  keyId: string;
  consumerId: string;
  planId: string | null;
  createdAt: string;
  revokedAt: string | null;
}

export interface Period {
  label: string;
  fromMs: number;
  toMs: number;
}

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** `2026-11` -> the UTC calendar month; anything else is a 422 naming the rule. */
export function parsePeriod(value: string): Period {
  const match = PERIOD.exec(value);
  if (!match) throw new DomainError('INVALID_ARGUMENT', `period '${value}' is not a month written YYYY-MM, e.g. 2026-11`, 'period-format');
  const year = Number(match[1]);
  const month = Number(match[2]) - 1;
  return { label: value, fromMs: Date.UTC(year, month, 1), toMs: Date.UTC(year, month + 1, 1) };
}

export function buildUsageReport(input: {
  period: Period;
  consumerId: string | null;
  planId: string | null;
  keys: readonly ReportedKey[];
  slices: readonly UsageSlice[];
  plans: ReadonlyMap<string, PlanState>;
  nowMs: number;
}): UsageReport {
  const { period } = input;
  const keys = new Map(input.keys.map((key) => [key.keyId, key]));
  const inPeriod = input.slices
    .filter((slice) => keys.has(slice.keyId))
    .filter((slice) => {
      const at = Date.parse(slice.from);
      return at >= period.fromMs && at < period.toMs;
    })
    .sort((a, b) => Date.parse(a.from) - Date.parse(b.from) || (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));

  const byKey = new Map<string, { units: number; verifications: Partial<Record<VerifyCode, number>> }>();
  const byDay = new Map<string, { units: number; verifications: Partial<Record<VerifyCode, number>> }>();
  const byOutcome: Partial<Record<VerifyCode, number>> = {};
  const byPlanVersion = new Map<string, { planId: string; version: number; units: number }>();
  const pricedByPlan = new Map<string, PricedSlice[]>();
  let units = 0;

  for (const key of input.keys) byKey.set(key.keyId, { units: 0, verifications: {} });
  for (const slice of inPeriod) {
    const key = keys.get(slice.keyId) as ReportedKey;
    const day = new Date(Date.parse(slice.from)).toISOString().slice(0, 10);
    const dayRow = byDay.get(day) ?? { units: 0, verifications: {} };
    byDay.set(day, dayRow);
    const keyRow = byKey.get(slice.keyId) as { units: number; verifications: Partial<Record<VerifyCode, number>> };
    for (const [code, count] of Object.entries(slice.counts) as [VerifyCode, number][]) {
      add(byOutcome, code, count);
      add(dayRow.verifications, code, count);
      add(keyRow.verifications, code, count);
    }
    units += slice.units;
    dayRow.units += slice.units;
    keyRow.units += slice.units;
    const plan = key.planId === null ? undefined : input.plans.get(key.planId);
    if (plan && slice.units > 0) {
      const version = versionAt(plan, Date.parse(slice.from));
      const id = `${plan.id}\n${version.version}`;
      const row = byPlanVersion.get(id) ?? { planId: plan.id, version: version.version, units: 0 };
      row.units += slice.units;
      byPlanVersion.set(id, row);
      const list = pricedByPlan.get(plan.id) ?? [];
      list.push({ version: version.version, price: version.terms.price, units: slice.units });
      pricedByPlan.set(plan.id, list);
    }
  }

  // Plans held during the period owe their flat fee even without usage: the one of the version in
  // force when the period began, or when the first key on the plan was issued in it, whenever the
  // units came (a unit-less slice first, so chargeFor takes its price for the flat fee).
  const heldFrom = new Map<string, number>();
  for (const key of input.keys) {
    if (key.planId === null || !input.plans.has(key.planId)) continue;
    const activeFrom = Math.max(period.fromMs, Date.parse(key.createdAt));
    const activeTo = key.revokedAt === null ? period.toMs : Math.min(period.toMs, Date.parse(key.revokedAt));
    if (activeFrom >= activeTo) continue;
    heldFrom.set(key.planId, Math.min(heldFrom.get(key.planId) ?? Number.POSITIVE_INFINITY, activeFrom));
  }
  for (const [planId, from] of heldFrom) {
    const version = versionAt(input.plans.get(planId) as PlanState, from);
    pricedByPlan.set(planId, [{ version: version.version, price: version.terms.price, units: 0 }, ...(pricedByPlan.get(planId) ?? [])]);
  }

  let charge = 0;
  let flatFee = 0;
  let includedUnits = 0;
  let billableUnits = 0;
  const currencies = new Set<string>();
  for (const [, slices] of [...pricedByPlan.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const planCharge = chargeFor(slices);
    if (planCharge.currency === null) continue;
    currencies.add(planCharge.currency);
    charge += planCharge.total;
    flatFee += planCharge.flatFee;
    includedUnits += planCharge.includedUnits;
    billableUnits += planCharge.billableUnits;
  }
  if (currencies.size > 1) {
    throw new DomainError(
      'RULE_VIOLATED',
      `the consumer's plans are priced in several currencies (${[...currencies].sort().join(', ')}); ask for each plan's report instead`,
      'single-currency',
    );
  }

  return {
    period: period.label,
    final: input.nowMs >= period.toMs,
    consumerId: input.consumerId,
    planId: input.planId,
    currency: [...currencies][0] ?? null,
    units,
    charge,
    flatFee,
    includedUnits,
    billableUnits,
    byKey: [...byKey.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([keyId, row]) => ({ keyId, planId: keys.get(keyId)?.planId ?? null, units: row.units, verifications: row.verifications })),
    byDay: [...byDay.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([day, row]) => ({ day, ...row })),
    byOutcome,
    byPlanVersion: [...byPlanVersion.values()].sort((a, b) => (a.planId < b.planId ? -1 : a.planId > b.planId ? 1 : a.version - b.version)),
  };
}

/**
 * Several reports (e.g. each consumer's on one plan) as one: every figure summed, each bill kept
 * whole (its own flat fee and included units). Reports in several currencies cannot be summed.
 */
export function sumUsageReports(parts: readonly UsageReport[], subject: { period: Period; consumerId: string | null; planId: string | null; nowMs: number }): UsageReport {
  const currencies = new Set(parts.map((part) => part.currency).filter((currency): currency is string => currency !== null));
  if (currencies.size > 1) {
    throw new DomainError('RULE_VIOLATED', `the reports are priced in several currencies (${[...currencies].sort().join(', ')})`, 'single-currency');
  }
  const byDay = new Map<string, { units: number; verifications: Partial<Record<VerifyCode, number>> }>();
  const byOutcome: Partial<Record<VerifyCode, number>> = {};
  const byPlanVersion = new Map<string, { planId: string; version: number; units: number }>();
  for (const part of parts) {
    for (const [code, count] of Object.entries(part.byOutcome) as [VerifyCode, number][]) add(byOutcome, code, count);
    for (const day of part.byDay) {
      const row = byDay.get(day.day) ?? { units: 0, verifications: {} };
      row.units += day.units;
      for (const [code, count] of Object.entries(day.verifications) as [VerifyCode, number][]) add(row.verifications, code, count);
      byDay.set(day.day, row);
    }
    for (const version of part.byPlanVersion) {
      const id = `${version.planId}\n${version.version}`;
      const row = byPlanVersion.get(id) ?? { planId: version.planId, version: version.version, units: 0 };
      row.units += version.units;
      byPlanVersion.set(id, row);
    }
  }
  const sum = (field: 'units' | 'charge' | 'flatFee' | 'includedUnits' | 'billableUnits') => parts.reduce((total, part) => total + part[field], 0);
  return {
    period: subject.period.label,
    final: subject.nowMs >= subject.period.toMs,
    consumerId: subject.consumerId,
    planId: subject.planId,
    currency: [...currencies][0] ?? null,
    units: sum('units'),
    charge: sum('charge'),
    flatFee: sum('flatFee'),
    includedUnits: sum('includedUnits'),
    billableUnits: sum('billableUnits'),
    byKey: parts.flatMap((part) => part.byKey).sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0)),
    byDay: [...byDay.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([day, row]) => ({ day, ...row })),
    byOutcome,
    byPlanVersion: [...byPlanVersion.values()].sort((a, b) => (a.planId < b.planId ? -1 : a.planId > b.planId ? 1 : a.version - b.version)),
  };
}

function add(record: Partial<Record<VerifyCode, number>>, code: VerifyCode, count: number): void {
  record[code] = (record[code] ?? 0) + count;
}

/** The report as CSV for finance: one row per key, then a total row carrying the charge. */
export function usageReportCsv(report: UsageReport): string {
  const lines = ['period,consumer_id,plan_id,key_id,units,valid,refused,currency,charge_minor_units'];
  const cell = (value: string | number | null) => {
    const text = value === null ? '' : String(value);
    return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  for (const row of report.byKey) {
    lines.push([report.period, report.consumerId, row.planId, row.keyId, row.units, row.verifications.VALID ?? 0, refusedOf(row.verifications), report.currency, ''].map(cell).join(','));
  }
  lines.push([report.period, report.consumerId, report.planId, 'TOTAL', report.units, report.byOutcome.VALID ?? 0, refusedOf(report.byOutcome), report.currency, report.charge].map(cell).join(','));
  return `${lines.join('\n')}\n`;
}

export function refusedOf(counts: Partial<Record<VerifyCode, number>>): number {
  return Object.entries(counts).reduce((sum, [code, count]) => (code === 'VALID' ? sum : sum + (count ?? 0)), 0);
}
