/**
 * Reading a replay log's Redis Stream entries (layout in redis-store.ts): an entry `0-N` holds the
 * frames up to seq N that one tick appended, as `<seq>`, text field pairs; the end marker is entry `1-0` with `end` (the state) and `last` (the last
 * seq the writer stored). Pure, so the checks for lost writes are easy to see in one place.
 */
import type { LogState, ReadResult } from './types.js';

export type Entry = [id: string, fields: string[]];

/** Sorts after every `0-N`: it comes last in a range and wakes blocked XREADs. */
export const END_ID = '1-0';
const TERMINAL = new Set<string>(['ended', 'lost', 'overflow']);

export const field = (fields: string[], name: string): string | undefined => {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
};

/** The frames after `after` in `entries` (as XRANGE/XREAD return them) and the state after them. */
export function fromEntries(entries: Entry[], after: number, max: number, metaState: string, leaseAlive: boolean): ReadResult {
  const frames: ReadResult['frames'] = [];
  for (const [id, fields] of entries) {
    if (id === END_ID) {
      const end = field(fields, 'end') ?? 'lost';
      // Frames the writer stored but the reader cannot see (a lost write, trimming): not resumable past here.
      const missing = Number(field(fields, 'last') ?? 0) > after + frames.length;
      return { frames, state: missing ? 'overflow' : TERMINAL.has(end) ? (end as LogState) : 'lost' };
    }
    // One entry holds the frames a tick appended, as `<seq>`, text pairs; its id is its last seq.
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const seq = Number(fields[i]);
      const next = after + frames.length + 1;
      if (seq < next) continue; // read before (the entry began before `after`)
      if (frames.length === max) return { frames, state: 'live' };
      if (seq !== next) return { frames, state: 'overflow' }; // a gap
      frames.push({ seq, text: fields[i + 1]! });
    }
  }
  if (TERMINAL.has(metaState)) return { frames, state: metaState as LogState };
  return { frames, state: leaseAlive ? 'live' : 'lost' };
}
