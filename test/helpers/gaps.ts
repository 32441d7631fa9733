import { GapStats, NO_GAPS, type GapSummary } from '../../src/events/gaps.js';

/** The summary of these inter-token gaps (ms), as the exchange keeps it. */
export function gapsOf(list: readonly number[]): GapSummary {
  const g = new GapStats();
  for (const x of list) g.add(x);
  return g.count > 0 ? g : NO_GAPS;
}
