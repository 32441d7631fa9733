/**
 * Whether a simulated answer calls tools, which ones, and with what arguments — the same rule for
 * the three wire formats (each reads its own `tools` / `tool_choice` shape into a
 * {@link SimTool} list and a {@link ToolMode}).
 *
 * The rule (deterministic, so a test can ask for a call or for text):
 * - no tools, mode `none`, or the conversation's last message is a tool result (OpenAI role
 *   `tool`, Anthropic `tool_result` block, Gemini `functionResponse` part) → no call: the
 *   simulator answers a tool result with text, whatever the mode (so a forced call cannot loop);
 * - a named tool (OpenAI `{type:'function', function:{name}}`, Anthropic `{type:'tool', name}`,
 *   Gemini `ANY` with one allowed name) → that tool;
 * - `required` / `any` → the tools the last user message mentions, else the first tool;
 * - `auto` → the tools the last user message mentions; if none, the first tool when the message
 *   asks for one ("use the tool", "call a function", "use tools" …); otherwise text.
 * A tool is "mentioned" when its name appears as a whole word, ignoring case. Several mentioned
 * tools are called in parallel (in `tools` order) unless parallel calls are off.
 *
 * Arguments: a value of the tool's schema ({@link schemaValue}) drawn from a PRNG seeded with the
 * request's seed, the choice index, the call's position and the tool's name. They are streamed as
 * the JSON text in pieces of {@link PIECE} code points; each piece counts as one completion token
 * (the simulator's token = one streamed delta, as for text).
 */
import { schemaValue } from './schema-value.js';
import { fnv1a, mulberry32 } from './text.js';

/** A function tool as the simulator needs it. */
export interface SimTool {
  name: string;
  /** its parameters' JSON Schema (OpenAI `parameters`, Anthropic `input_schema`, Gemini `parameters`) */
  schema: unknown;
}

/** What the request allows. `allowed` narrows the tools a call may use (Gemini `allowedFunctionNames`). */
export type ToolMode =
  | { kind: 'none' }
  | { kind: 'auto'; allowed?: readonly string[] }
  | { kind: 'required'; allowed?: readonly string[] }
  | { kind: 'named'; name: string };

/** One planned tool call. */
export interface SimToolCall {
  name: string;
  /** the arguments (always a JSON object) */
  args: Record<string, unknown>;
  /** `JSON.stringify(args)` in streaming pieces */
  pieces: string[];
}

/** Code points per streamed argument piece. */
export const PIECE = 4;

/** The conversation as the rule needs it. */
export interface ToolContext {
  /** text of the last message when it is the user's ('' otherwise) */
  lastUserText: string;
  /** the last message is (or carries) a tool result */
  afterToolResult: boolean;
  /** several calls allowed in one answer */
  parallel: boolean;
}

const ASKS_FOR_A_TOOL = /\b(?:call|use|invoke|run)\s+(?:(?:a|an|the|any|some|your|one|of|my)\s+)*(?:tool|function)s?\b/i;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `name` appears in `text` as a whole word (not inside a longer identifier), ignoring case. */
export function mentions(text: string, name: string): boolean {
  if (name === '') return false;
  return new RegExp(`(?<![\\w-])${escapeRe(name)}(?![\\w-])`, 'i').test(text);
}

/** The tools the answer calls (empty: it answers with text). See the module comment for the rule. */
export function pickTools(tools: readonly SimTool[], mode: ToolMode, ctx: ToolContext): SimTool[] {
  if (tools.length === 0 || mode.kind === 'none' || ctx.afterToolResult) return [];
  if (mode.kind === 'named') {
    const t = tools.find((x) => x.name === mode.name);
    return t ? [t] : [];
  }
  const usable = mode.allowed ? tools.filter((t) => mode.allowed!.includes(t.name)) : tools;
  if (usable.length === 0) return [];
  let picked = usable.filter((t) => mentions(ctx.lastUserText, t.name));
  if (picked.length === 0 && (mode.kind === 'required' || ASKS_FOR_A_TOOL.test(ctx.lastUserText))) picked = [usable[0]!];
  return ctx.parallel ? picked : picked.slice(0, 1);
}

/** `json` in pieces of {@link PIECE} code points (never splitting a surrogate pair). */
export function argPieces(json: string): string[] {
  const cps = Array.from(json);
  const out: string[] = [];
  for (let i = 0; i < cps.length; i += PIECE) out.push(cps.slice(i, i + PIECE).join(''));
  return out;
}

/** The calls for `tools`, with arguments for `seed` and choice `choice` (see the module comment). */
export function planCalls(tools: readonly SimTool[], seed: string | undefined, choice: number): SimToolCall[] {
  return tools.map((t, i) => {
    const rnd = mulberry32(fnv1a(`${seed ?? ''}\u0000${choice}\u0000${i}\u0000${t.name}`));
    const v = schemaValue(t.schema, rnd);
    // Every API wants an object of arguments; a schema that is not an object's gets {}.
    const args = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
    return { name: t.name, args, pieces: argPieces(JSON.stringify(args)) };
  });
}

/** Completion tokens of `calls`: one per streamed argument piece. */
export function callTokens(calls: readonly SimToolCall[]): number {
  let n = 0;
  for (const c of calls) n += c.pieces.length;
  return n;
}

/** The words of a message content: a string, or the `text` of its parts, joined. */
export function contentText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) return '';
  const out: string[] = [];
  for (const p of v) {
    if (typeof p === 'string') out.push(p);
    else if (typeof p === 'object' && p !== null && typeof (p as { text?: unknown }).text === 'string') out.push((p as { text: string }).text);
  }
  return out.join('\n');
}
