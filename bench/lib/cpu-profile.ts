/**
 * Reading a V8 `.cpuprofile` (what `node --cpu-prof` writes): self time per function and per
 * module, and the total time of the proxy's own (dist/) functions. The same reading as
 * bench/profile.ts prints, as a library for bench/formats.ts `--cpu-prof`.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Busy time, µs (everything but `(idle)`). */
  total: number;
  idle: number;
  /** Self time by function (`name  file:line`), µs. */
  byFn: Map<string, number>;
  /** Self time by module (a dist/ file, a package, a node: module, a V8 pseudo-frame), µs. */
  byArea: Map<string, number>;
  /** Total (self + callees) time of the proxy's own functions, µs; a recursive function counted once. */
  incl: Map<string, number>;
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

function area(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const dist = /\/dist\/(.+)$/.exec(url);
  if (dist) return `dist/${dist[1]}`;
  if (url.startsWith('node:')) return url.replace(/^node:internal\//, 'node:').replace(/\/.*$/, '');
  return url;
}

const shortUrl = (url: string): string => url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/');
const fnKey = ({ functionName, url, lineNumber }: CallFrame): string => `${functionName || '(anonymous)'}  ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`;

export function summariseProfile(p: CpuProfile): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const key = fnKey({ functionName, url, lineNumber });
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
  }
  // Inclusive time of dist/ functions: walk down from every node, adding self time to each
  // dist/ function on the path once.
  const incl = new Map<string, number>();
  const walk = (id: number, onPath: Set<string>): number => {
    const n = byId.get(id)!;
    let sum = self.get(id) ?? 0;
    if (n.callFrame.functionName === '(idle)') sum = 0;
    const key = /\/dist\//.test(n.callFrame.url) ? fnKey(n.callFrame) : null;
    const added = key !== null && !onPath.has(key);
    if (added) onPath.add(key);
    for (const c of n.children ?? []) sum += walk(c, onPath);
    if (added) {
      onPath.delete(key);
      incl.set(key, (incl.get(key) ?? 0) + sum);
    }
    return sum;
  };
  const childIds = new Set(p.nodes.flatMap((n) => n.children ?? []));
  for (const n of p.nodes) if (!childIds.has(n.id)) walk(n.id, new Set());
  return { total, idle, byFn, byArea, incl };
}
