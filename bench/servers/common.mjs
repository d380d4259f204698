// Shared by the benchmark servers: tell the parent the port, answer memory questions.
export function reportReady(port, path) {
  process.on('message', (message) => {
    if (message === 'memory') {
      globalThis.gc?.();
      process.send({ type: 'memory', rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed });
    }
  });
  process.send({ type: 'listening', port, path });
}
