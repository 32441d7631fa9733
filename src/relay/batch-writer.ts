/**
 * Writes what one upstream read produces as one buffer (bench/profile.ts; docs/ARCHITECTURE.md
 * "Performance rules"): one `res.write`, one chunk on the wire, one syscall. Frames forwarded
 * unchanged are runs of the read's own bytes, so most reads become one subarray of it — no copy, no
 * encode; strings (keep-alives, re-encoded frames, error frames) are appended in order. (Corking
 * and writing each frame cost ~20% of the proxy's CPU in `writev` with many small iovecs:
 * bench/profile.ts.)
 */
import type { ServerResponse } from 'node:http';

/** What the writer reports to (the relay: one object, not two closures per stream). */
export interface BatchTarget {
  /** Whether the response can still be written (the caller may have gone). */
  writable(): boolean;
  /** Told how many bytes each write carried. */
  onWrite(bytes: number): void;
}

/** Batches writes while a read is processed; writes through otherwise. */
export class BatchWriter {
  private batching = false;
  /** Reused from read to read (emptied by {@link flush}). */
  private readonly pieces: Buffer[] = [];
  /** The open run: bytes [runStart, runEnd) of runBuf. */
  private runBuf: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly target: BatchTarget,
  ) {}

  /** From now until {@link flush}, writes are collected. */
  begin(): void {
    this.batching = true;
  }

  /** Write a string frame (collected while batching). */
  write(frame: string): void {
    if (!this.target.writable()) return;
    if (this.batching) {
      this.endRun();
      this.pieces.push(Buffer.from(frame));
      return;
    }
    this.res.write(frame);
    this.target.onWrite(Buffer.byteLength(frame));
  }

  /** Forward bytes [start, end) of an upstream read as they are (only while batching). */
  writeBytes(buf: Buffer, start: number, end: number): void {
    if (this.runBuf === buf && this.runEnd === start) {
      this.runEnd = end;
      return;
    }
    this.endRun();
    this.runBuf = buf;
    this.runStart = start;
    this.runEnd = end;
  }

  /** Write what was collected, as one buffer, and stop batching. */
  flush(): void {
    this.endRun();
    const pieces = this.pieces;
    this.batching = false;
    if (pieces.length === 0) return;
    const out = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    pieces.length = 0;
    if (!this.target.writable()) return;
    this.res.write(out);
    this.target.onWrite(out.length);
  }

  private endRun(): void {
    if (this.runBuf === null) return;
    if (this.runEnd > this.runStart) this.pieces.push(this.runBuf.subarray(this.runStart, this.runEnd));
    this.runBuf = null;
  }
}
