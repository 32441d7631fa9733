/**
 * Reload when the configuration file changes: `fs.watch` on its directory (editors and
 * configuration tools replace a file by renaming a new one over it, which a watch on the file
 * itself would lose), filtered to the file's name, debounced so a write in several steps is one
 * reload. Validation happens in the reload, so a half-written file is refused and the next
 * change tries again.
 */
import { watch } from 'node:fs';
import path from 'node:path';

/** What the watcher logs. */
interface WatchLog {
  warn(obj: object, msg: string): void;
}

/** Watch `file`; call `onChange` once per burst of changes. Returns a function that stops watching. */
export function watchFile(file: string, debounceMs: number, onChange: () => void, log: WatchLog): () => void {
  const name = path.basename(file);
  let timer: NodeJS.Timeout | null = null;
  let watcher: ReturnType<typeof watch>;
  try {
    watcher = watch(path.dirname(file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
    });
  } catch (err) {
    log.warn({ err: { message: (err as Error).message }, file }, 'cannot watch the configuration file: reload with SIGHUP or POST /admin/config/reload');
    return () => undefined;
  }
  watcher.on('error', (err) => log.warn({ err: { message: err.message }, file }, 'watching the configuration file failed'));
  return () => {
    if (timer) clearTimeout(timer);
    watcher.close();
  };
}
