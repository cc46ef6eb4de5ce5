/**
 * dynalite in a thread of its own (started by dynalite.ts): it answers DynamoDB's wire protocol on a loopback port,
 * as before, but its request parsing, validation and LevelDB work no longer share the event loop of the AppSync
 * twin and the resolver. Plain JavaScript, so that the thread starts without a TypeScript loader.
 *
 * Messages: it posts `{ kind: 'listening', port }` or `{ kind: 'failed', message, code }` once; on `'close'` it stops
 * the server (dynalite closes its LevelDB store with it) and posts `{ kind: 'closed', message? }`, after which the
 * thread ends.
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

// dynalite is CommonJS.
const dynalite = createRequire(import.meta.url)('dynalite');

const { path, host, port } = workerData;
// Tables become ACTIVE at once instead of after dynalite's default half second.
const server = dynalite({
  ...(path === undefined ? {} : { path }),
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
});

const failed = (error) => parentPort.postMessage({ kind: 'failed', message: error.message, code: error.code });
server.once('error', failed);
server.listen(port, host, () => {
  server.off('error', failed);
  parentPort.postMessage({ kind: 'listening', port: server.address().port });
});

parentPort.on('message', (message) => {
  if (message !== 'close') return;
  server.close((error) => {
    parentPort.postMessage({ kind: 'closed', ...(error ? { message: error.message } : {}) });
    parentPort.close();
  });
  // Keep-alive sockets of clients would otherwise hold close() open.
  server.closeAllConnections();
});
