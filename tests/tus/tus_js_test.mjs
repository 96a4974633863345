// tus-js-client (the official JavaScript client, from npm) against tellus-server, as an
// independent peer. Run by tests/tus/run.sh with TELLUS_URL and TELLUS_INVITES (reporter
// invite codes, one per test). Prints "tus-js: N passed, N failed" last.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import * as tus from 'tus-js-client';
import { cuttingProxy } from './cutting_proxy.mjs';

const base = process.env.TELLUS_URL;
const invites = (process.env.TELLUS_INVITES || '').split(/\s+/).filter(Boolean);
const MB = 1024 * 1024;

// UUIDv7-shaped ids, as a phone makes them (the server only needs a UUID).
const id = () => randomUUID();
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

async function enrol() {
  const code = invites.shift();
  if (!code) throw new Error('run.sh made too few invites');
  const r = await fetch(`${base}/api/v1/enrol`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ invite_code: code, device_label: 'tus-js-client' }),
  });
  if (r.status !== 201) throw new Error(`enrol: ${r.status} ${await r.text()}`);
  return (await r.json()).token;
}

async function story(token, granted = ['record']) {
  const storyId = id();
  if (granted.length) {
    const r = await fetch(`${base}/api/v1/stories/${storyId}/consent`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({
        id: id(), story_id: storyId, participant_id: id(), kind: 'given',
        form_id: 'storyteller-consent', form_version: 2, language: 'en', granted,
        method: { kind: 'app_checkbox' }, captured_by: 'tus-js', captured_at: new Date().toISOString(),
      }),
    });
    if (r.status !== 201) throw new Error(`consent: ${r.status} ${await r.text()}`);
  }
  return storyId;
}

function options(token, storyId, recordingId, data, extra = {}) {
  return {
    endpoint: `${base}/api/v1/uploads`,
    headers: { Authorization: `Bearer ${token}` },
    metadata: { story_id: storyId, recording_id: recordingId, sha256: sha256(data), content_type: 'audio/wav' },
    retryDelays: [0, 100, 300, 1000, 2000],
    storeFingerprintForResuming: false,
    ...extra,
  };
}

function run(upload) {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = () => resolve(upload);
    upload.options.onError = reject;
    upload.start();
  });
}

async function receipt(token, recordingId) {
  const r = await fetch(`${base}/api/v1/recordings/${recordingId}/receipt`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (r.status !== 200) throw new Error(`receipt: ${r.status} ${await r.text()}`);
  return r.json();
}

async function offsetOf(token, url) {
  const r = await fetch(url, { method: 'HEAD', headers: { Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0' } });
  return { status: r.status, offset: Number(r.headers.get('upload-offset')) };
}


function check(cond, message) {
  if (!cond) throw new Error(message);
}

const tests = {
  // 50 MB in one PATCH. The first PATCH's body stops at half the file (a wrapper around
  // tus-js-client's own HTTP stack, as a flaky network would): once the client's HTTP
  // request has taken that half and asks for more, the upload is aborted, tearing the
  // connection down mid-body. A new Upload then resumes from the URL.
  async 'a 50 MB upload aborted halfway resumes and its receipt matches the file'() {
    const token = await enrol();
    const storyId = await story(token);
    const data = randomBytes(50 * MB);
    const recordingId = id();
    let halfTaken;
    const half = new Promise((resolve) => { halfTaken = resolve; });
    class StallingStack extends tus.DefaultHttpStack {
      createRequest(method, url) {
        const request = super.createRequest(method, url);
        if (method === 'PATCH' && !this.stalled) {
          this.stalled = true;
          const send = request.send.bind(request);
          request.send = (body) => {
            let position = 0;
            return send(new Readable({
              highWaterMark: MB,
              read() {
                if (position >= body.length / 2) {
                  halfTaken();
                  return; // the rest never comes on this connection
                }
                const next = body.subarray(position, position + MB);
                position += next.length;
                this.push(next);
              },
            }));
          };
        }
        return request;
      }
    }
    const upload = new tus.Upload(data, options(token, storyId, recordingId, data, {
      httpStack: new StallingStack(),
      onSuccess: () => {},
      onError: () => {},
    }));
    upload.start();
    await half;
    const url = upload.url;
    check(url, 'no upload URL before the abort');
    await upload.abort();
    // The server keeps what arrived of the cut PATCH (DESIGN.md §3); its HEAD waits for
    // that to be committed.
    const head = await offsetOf(token, url);
    check(head.status === 200, `HEAD after abort: ${head.status}`);
    check(head.offset > 0 && head.offset <= data.length / 2, `offset after abort: ${head.offset}`);
    let firstProgress;
    const resumed = new tus.Upload(data, options(token, storyId, recordingId, data, {
      uploadUrl: url,
      onProgress(sent) {
        if (firstProgress === undefined) firstProgress = sent;
      },
    }));
    await run(resumed);
    check(resumed.url === url, 'the resumed upload used the same URL');
    const r = await receipt(token, recordingId);
    check(r.sha256 === sha256(data), `receipt ${r.sha256} != file ${sha256(data)}`);
    check(r.bytes === data.length, `receipt bytes ${r.bytes}`);
    console.log(`    aborted with ${head.offset} of ${data.length} bytes kept; resumed from there`);
  },


  // Through a proxy that cuts every connection after 3 MB, tus-js-client's own retries
  // resume from the server's offset; because the server keeps the received prefix of
  // every cut PATCH, the bytes sent stay close to the payload.
  async 'through a proxy that cuts every 3 MB, the bytes sent stay within 1.15x of the payload'() {
    const token = await enrol();
    const storyId = await story(token);
    const data = randomBytes(30 * MB);
    const recordingId = id();
    const proxy = await cuttingProxy(base, 3 * MB);
    try {
      const opts = options(token, storyId, recordingId, data, {
        endpoint: `${proxy.url}/api/v1/uploads`,
        retryDelays: Array(40).fill(20),
      });
      await run(new tus.Upload(data, opts));
    } finally {
      proxy.close();
    }
    const r = await receipt(token, recordingId);
    check(r.sha256 === sha256(data), 'receipt does not match');
    const ratio = proxy.stats.fromClient / data.length;
    console.log(`    ${proxy.stats.cuts} cuts; sent ${proxy.stats.fromClient} bytes for ${data.length} (${ratio.toFixed(3)}x)`);
    check(proxy.stats.cuts >= 5, `only ${proxy.stats.cuts} cuts`);
    check(ratio <= 1.15, `sent ${ratio.toFixed(3)}x the payload`);
  },

  async 'chunked upload with data during creation completes with a matching receipt'() {
    const token = await enrol();
    const storyId = await story(token);
    const data = randomBytes(12 * MB + 12345);
    const recordingId = id();
    await run(new tus.Upload(data, options(token, storyId, recordingId, data, {
      chunkSize: 4 * MB,
      uploadDataDuringCreation: true,
    })));
    const r = await receipt(token, recordingId);
    check(r.sha256 === sha256(data), 'receipt does not match');
  },

  async 'an upload for a story without record consent is refused with a JSON reason'() {
    const token = await enrol();
    const storyId = await story(token, []);
    const data = randomBytes(1000);
    const err = await run(new tus.Upload(data, options(token, storyId, id(), data))).then(
      () => null,
      (e) => e,
    );
    check(err, 'the upload was accepted');
    const status = err.originalResponse && err.originalResponse.getStatus();
    check(status === 403, `status ${status}`);
    const body = JSON.parse(err.originalResponse.getBody());
    check(body.code === 'consent_required', `code ${body.code}`);
  },

  async 'termination deletes an unfinished upload'() {
    const token = await enrol();
    const storyId = await story(token);
    const data = randomBytes(3 * MB);
    let url;
    await new Promise((resolve, reject) => {
      const upload = new tus.Upload(data, options(token, storyId, id(), data, {
        chunkSize: 1 * MB,
        onChunkComplete() {
          if (!url) {
            url = upload.url;
            upload.abort(true).then(resolve, reject);
          }
        },
        onSuccess: () => reject(new Error('finished before it could be terminated')),
        onError: reject,
      }));
      upload.start();
    });
    const head = await offsetOf(token, url);
    check(head.status === 404, `HEAD after termination: ${head.status}`);
  },
};

let passed = 0;
let failed = 0;
for (const [name, test] of Object.entries(tests)) {
  try {
    await test();
    passed++;
    console.log(`ok     ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAILED ${name}: ${e && e.stack ? e.stack : e}`);
  }
}
console.log(`tus-js: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
