/**
 * What a period of usage costs, in integer minor units. Units are priced with the plan version
 * in force when they were used: each version's included units are used first (in order of use),
 * then each unit beyond costs unitPricePer1000 / 1000. Sums are kept in thousandths of a minor
 * unit (exact integers) and rounded half up once, at the end. The flat fee is the one of the
 * version in force at the start of the period (or when the consumer first used the plan in it).
 */
import type { Price } from '@keyledger/schemas';

export interface PricedSlice {
  /** Plan version of these units. */
  version: number;
  price: Price | null;
  units: number;
}

export interface Charge {
  currency: string | null;
  flatFee: number;
  includedUnits: number;
  billableUnits: number;
  /** flatFee + usage, in minor units. */
  total: number;
}

export function chargeFor(slices: readonly PricedSlice[]): Charge {
  const priced = slices.filter((slice) => slice.price !== null);
  const first = priced[0]?.price ?? null;
  if (first === null) return { currency: null, flatFee: 0, includedUnits: 0, billableUnits: 0, total: 0 };
  let usedIncluded = 0;
  let billable = 0;
  let milli = 0n;
  for (const slice of priced) {
    const price = slice.price as Price;
    const included = Math.max(0, Math.min(slice.units, price.includedUnits - usedIncluded));
    usedIncluded += included;
    const beyond = slice.units - included;
    billable += beyond;
    milli += BigInt(beyond) * BigInt(price.unitPricePer1000);
  }
  const usage = Number((milli + 500n) / 1000n);
  return { currency: first.currency, flatFee: first.flatFee, includedUnits: usedIncluded, billableUnits: billable, total: first.flatFee + usage };
}
