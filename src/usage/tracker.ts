/**
 * Usage accounting for one request (test/unit/usage.test.ts): the upstream's own counts when it sent them,
 * otherwise an estimate — prompt from the request body, completion from the text actually relayed.
 * That is also what a stream cut by the client or the upstream is billed: prompt plus what was
 * generated up to the cut.
 *
 * Per-chunk cost is one array push; tokenising happens once, in {@link UsageTracker.final}, and
 * only when the upstream gave no usage.
 */
import { contentFromBody, usageFromBody, type ChunkObservation, type Usage } from './chunk.js';
import type { TokenEstimator } from './estimate.js';

export interface UsageResult {
  promptTokens: number;
  completionTokens: number;
  /** Of `promptTokens`, those the upstream served from its prompt cache; 0 when unknown or estimated. */
  cachedPromptTokens: number;
  source: 'upstream' | 'estimated';
}

/** Content pieces kept apart before they are joined. */
const JOIN_AT = 64;

export class UsageTracker {
  /** The latest usage seen; servers that repeat cumulative usage on every chunk end up right. */
  private usage: Usage | null = null;
  /**
   * The latest content pieces; every {@link JOIN_AT} they are joined onto {@link joined}. One
   * string per token would cost ~30 bytes a token for as long as the stream is open (bench/heap.ts).
   */
  private readonly fragments: string[] = [];
  private joined = '';
  private body: unknown = undefined;
  private result: UsageResult | null = null;

  /**
   * @param model the model name the upstream tokenises with (picks o200k_base or cl100k_base)
   * @param requestBody the parsed request body (chat `messages`, completions `prompt`, `input` …)
   */
  constructor(
    private readonly estimator: TokenEstimator,
    private readonly model: string,
    private readonly requestBody: Record<string, unknown>,
  ) {}

  /** Feed each chunk relayed to the caller, as {@link inspectChunk} saw it. */
  onChunk(obs: ChunkObservation): void {
    if (obs.usage !== null) this.usage = obs.usage;
    if (obs.content !== '') this.push(obs.content);
  }

  /** Feed the text of a plain content delta (no usage, no finish reason): no observation object per chunk. */
  onContent(content: string): void {
    if (content !== '') this.push(content);
  }

  private push(content: string): void {
    const f = this.fragments;
    f.push(content);
    if (f.length >= JOIN_AT) {
      // A flat string of the pieces, then one concatenation: bytes per character, and no copy of
      // what was joined before (V8 flattens the chain once, when the text is read).
      this.joined += f.join('');
      f.length = 0;
    }
  }

  /** Feed a non-stream response body (parsed JSON); true if it carried the usage. Its text is only read if not. */
  onBody(parsed: unknown): boolean {
    const usage = usageFromBody(parsed);
    if (usage !== null) this.usage = usage;
    else this.body = parsed;
    return usage !== null;
  }

  /** The completion text relayed so far (for content logging). */
  text(): string {
    const streamed = this.joined + this.fragments.join('');
    return this.body === undefined ? streamed : streamed + contentFromBody(this.body);
  }

  /** The counts to record. Idempotent: the first call decides (and tokenises, if it must). */
  final(): UsageResult {
    if (this.result !== null) return this.result;
    if (this.usage !== null) {
      const u = this.usage;
      this.result = { promptTokens: u.prompt, completionTokens: u.completion, cachedPromptTokens: u.cachedPrompt, source: 'upstream' };
    } else {
      this.result = {
        promptTokens: this.estimator.countPrompt(this.requestBody, this.model),
        completionTokens: this.estimator.countText(this.text(), this.model),
        cachedPromptTokens: 0,
        source: 'estimated',
      };
    }
    return this.result;
  }
}
