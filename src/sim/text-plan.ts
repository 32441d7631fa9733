/**
 * The text of one answer, decided before anything is sent: `n` tokens of `simText(n, seed)`,
 * unless a stop sequence shows up in them first. Real APIs stop as soon as the generated text
 * contains a stop sequence and never send the sequence itself, so the answer is the text before
 * it: whole tokens, then (maybe) the start of the token the sequence begins in. A stop sequence
 * may span tokens. Without stop sequences nothing is scanned (a long answer stays O(1) memory).
 */
import { createTokenCursor } from './text.js';

/** Where a stop sequence cuts the text. */
export interface TextCut {
  /** whole tokens before the cut */
  full: number;
  /** the part of the next token before the sequence ('' when the cut falls on a token boundary) */
  tail: string;
  /** the stop sequence that matched */
  seq: string;
}

/** The text to send. */
export interface TextPlan {
  seed: string | undefined;
  /** tokens sent (a non-empty tail counts as one) */
  tokens: number;
  /** null: all `n` tokens are sent, nothing stopped them */
  cut: TextCut | null;
}

/**
 * The first cut any of `stops` makes in the first `n` tokens of `seed`'s text: the sequence whose
 * match ends first (then the one starting first), checking after each token as a generator would.
 */
export function findStop(n: number, seed: string | undefined, stops: readonly string[]): TextCut | null {
  const seqs = stops.filter((s) => s.length > 0);
  if (seqs.length === 0) return null;
  const maxLen = Math.max(...seqs.map((s) => s.length));
  const next = createTokenCursor(seed);
  // A window over the last tokens: enough text that any match ending in the next token starts
  // inside it. `starts[k]` is where token `first + k` begins in `buf`.
  let buf = '';
  let first = 0;
  const starts: number[] = [];
  for (let i = 0; i < n; i++) {
    const prevLen = buf.length;
    starts.push(prevLen);
    buf += next();
    let best: { at: number; end: number; seq: string } | null = null;
    for (const seq of seqs) {
      const at = buf.indexOf(seq, Math.max(0, prevLen - seq.length + 1));
      if (at < 0) continue;
      const end = at + seq.length;
      if (best === null || end < best.end || (end === best.end && at < best.at)) best = { at, end, seq };
    }
    if (best !== null) {
      let k = starts.length - 1;
      while (starts[k]! > best.at) k--;
      return { full: first + k, tail: buf.slice(starts[k]!, best.at), seq: best.seq };
    }
    // Drop leading tokens no future match can start in.
    while (starts.length > 1 && buf.length - starts[1]! >= maxLen - 1) {
      const drop = starts[1]!;
      buf = buf.slice(drop);
      starts.shift();
      for (let k = 0; k < starts.length; k++) starts[k] = starts[k]! - drop;
      first++;
    }
  }
  return null;
}

/** The plan for `n` tokens of `seed`'s text, cut by the first of `stops` that appears. */
export function planText(n: number, seed: string | undefined, stops: readonly string[] = []): TextPlan {
  const cut = findStop(n, seed, stops);
  if (cut === null) return { seed, tokens: n, cut: null };
  return { seed, tokens: cut.full + (cut.tail === '' ? 0 : 1), cut };
}

/** A cursor over the plan's tokens: `plan.tokens` calls return them in order (the tail last). */
export function planCursor(plan: TextPlan): () => string {
  const next = createTokenCursor(plan.seed);
  const cut = plan.cut;
  if (cut === null) return next;
  let i = 0;
  return () => (i++ < cut.full ? next() : cut.tail);
}

/** The plan's whole text (a non-streaming answer). */
export function planString(plan: TextPlan): string {
  const next = planCursor(plan);
  let s = '';
  for (let i = 0; i < plan.tokens; i++) s += next();
  return s;
}
