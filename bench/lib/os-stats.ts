/**
 * Process CPU time and memory as the OS sees them (/proc, Linux), never from inside the process
 * being measured: a process cannot under-report its own cost this way.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on mainstream Linux). */
export const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of `pid` (all its threads) so far, ms; resolution 1000 / CLK_TCK ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) is parenthesised and may hold spaces: count fields after the last ')'.
  // The rest starts at field 3 (state); utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
}

/** Resident set size now and its high-water mark, KiB (/proc/<pid>/status VmRSS, VmHWM). */
export function memKb(pid: number): { rssKb: number; hwmKb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

/** The 1-minute load average (/proc/loadavg), to say how busy the machine was. */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [a!, b!, c!];
}

/** Polls the RSS of some processes at a fixed period and keeps each one's peak. */
export class RssSampler {
  private readonly peaks = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly pids: number[], private readonly periodMs = 50) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.periodMs);
  }

  /** Stop and return the peak RSS seen per pid, KiB. */
  stop(): Map<number, number> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    return this.peaks;
  }

  private sample(): void {
    for (const pid of this.pids) {
      try {
        const { rssKb } = memKb(pid);
        if (!(rssKb <= (this.peaks.get(pid) ?? 0))) this.peaks.set(pid, rssKb);
      } catch {
        /* the process exited: keep what we saw */
      }
    }
  }
}
