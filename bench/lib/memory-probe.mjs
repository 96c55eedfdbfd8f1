// Preloaded (node --expose-gc --import) into the servers the bench (and a memory test) measures, never in production:
// on SIGUSR2 it writes the process's memory as it is, then after a full GC, to $MEMORY_PROBE_FILE.
// The gap between RSS and heapUsed after GC is allocator slack, not retained objects.
import { renameSync, writeFileSync } from 'node:fs';

const file = process.env.MEMORY_PROBE_FILE;
const mb = (bytes) => bytes / 1024 / 1024;
const snapshot = () => {
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
  return { rssMb: mb(rss), heapUsedMb: mb(heapUsed), arrayBuffersMb: mb(arrayBuffers) };
};

if (file && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    const before = snapshot();
    // Twice: V8 frees dead ArrayBuffers' memory on a background sweeper after a full GC, and the next
    // full GC finishes that sweep first. Read after one, a loaded CI run counted 18 MB of buffers more
    // than idle, three of test/integration/stream-memory.test.ts's 6 MB bodies — most likely freed
    // but not yet swept (not reproduced here: quiet runs count 0.05 MB).
    globalThis.gc();
    globalThis.gc();
    const afterGc = snapshot();
    // Renamed into place so the harness never reads half a file.
    writeFileSync(`${file}.tmp`, JSON.stringify({ before, afterGc }));
    renameSync(`${file}.tmp`, file);
  });
}
