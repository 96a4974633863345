// The official Node tus server (@tus/server with @tus/file-store), the baseline of
// scripts/bench-server.sh. Usage: node tus_node_server.mjs DIR; prints "listening on URL".
import http from 'node:http';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';

const tus = new Server({ path: '/files', datastore: new FileStore({ directory: process.argv[2] }) });
const host = http.createServer((req, res) => tus.handle(req, res));
host.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${host.address().port}/files`);
});
process.on('SIGTERM', () => host.close(() => process.exit(0)));
