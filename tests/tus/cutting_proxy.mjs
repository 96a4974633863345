import net from 'node:net';

// A TCP proxy that cuts every connection after `cutEvery` bytes from the client (the
// fault DESIGN.md §3 names) and counts what the client sent.
export function cuttingProxy(targetUrl, cutEvery) {
  const target = new URL(targetUrl);
  const stats = { fromClient: 0, cuts: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    let forwarded = 0;
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on('data', (buf) => {
      stats.fromClient += buf.length;
      const room = cutEvery - forwarded;
      if (buf.length >= room) {
        client.pause();
        stats.cuts++;
        upstream.write(buf.subarray(0, room), close);
        forwarded = cutEvery;
        return;
      }
      forwarded += buf.length;
      if (!upstream.write(buf)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    upstream.on('data', (buf) => client.write(buf));
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, stats, close: () => server.close() });
    });
  });
}
