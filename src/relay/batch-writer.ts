/**
 * Writes what one upstream read produces as one buffer (issue 6): one `res.write`, one chunk on
 * the wire, one syscall. Frames forwarded unchanged are runs of the read's own bytes, so most
 * reads become one subarray of it — no copy, no encode; strings (keep-alives, re-encoded frames,
 * error frames) are appended in order. (Corking and writing each frame cost ~20% of the proxy's
 * CPU in `writev` with many small iovecs: bench/profile.ts.)
 */
import type { ServerResponse } from 'node:http';

/** Batches writes while a read is processed; writes through otherwise. */
export class BatchWriter {
  private batching = false;
  private pieces: Buffer[] = [];
  /** The open run: bytes [runStart, runEnd) of runBuf. */
  private runBuf: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  constructor(
    private readonly res: ServerResponse,
    /** Told how many bytes each write carried. */
    private readonly onWrite: (bytes: number) => void,
    /** Whether the response can still be written (the caller may have gone). */
    private readonly writable: () => boolean,
  ) {}

  /** From now until {@link flush}, writes are collected. */
  begin(): void {
    this.batching = true;
  }

  /** Write a string frame (collected while batching). */
  write(frame: string): void {
    if (!this.writable()) return;
    if (this.batching) {
      this.endRun();
      this.pieces.push(Buffer.from(frame));
      return;
    }
    this.res.write(frame);
    this.onWrite(Buffer.byteLength(frame));
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
    this.pieces = [];
    if (!this.writable()) return;
    const out = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    this.res.write(out);
    this.onWrite(out.length);
  }

  private endRun(): void {
    if (this.runBuf === null) return;
    if (this.runEnd > this.runStart) this.pieces.push(this.runBuf.subarray(this.runStart, this.runEnd));
    this.runBuf = null;
  }
}
