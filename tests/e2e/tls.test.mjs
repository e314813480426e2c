// keel talks TLS to its upstreams, verifying them against OpenSSL's system CA store, which
// honours SSL_CERT_FILE. A throwaway CA and server certificates are made here with the openssl
// CLI; the fake serves HTTPS with them.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeOpenAI, FAKE_TEXT } from '../fakes/fake_openai.mjs';
import { startKeel, makeClient, postJSON, errorOf, sseData, UPSTREAM_KEY } from './harness.mjs';

let dir;
let trusted;     // {caFile, key, cert} for 127.0.0.1 and localhost, from the trusted CA
let mismatched;  // {key, cert} for other.example only, from the trusted CA
let untrusted;   // {key, cert} for 127.0.0.1 and localhost, from a CA keel is never told of
const fakes = {};

function openssl(args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

// A self-signed CA: NAME.key, NAME.pem.
function makeCA(name) {
  writeFileSync(path.join(dir, `${name}.cnf`), [
    '[req]', 'distinguished_name = dn', 'prompt = no', 'x509_extensions = v3_ca',
    '[dn]', `CN = keel e2e ${name}`,
    '[v3_ca]', 'basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash', '',
  ].join('\n'));
  openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-config', `${name}.cnf`]);
  return path.join(dir, `${name}.pem`);
}

// A server certificate NAME.key/NAME.pem signed by CA, for the subjectAltName `san`.
function makeServerCert(name, ca, cn, san) {
  writeFileSync(path.join(dir, `${name}.cnf`), [
    '[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', `CN = ${cn}`, '',
  ].join('\n'));
  writeFileSync(path.join(dir, `${name}.ext`), [
    'basicConstraints = CA:FALSE', 'keyUsage = critical, digitalSignature', 'extendedKeyUsage = serverAuth',
    `subjectAltName = ${san}`, 'authorityKeyIdentifier = keyid', 'subjectKeyIdentifier = hash', '',
  ].join('\n'));
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-config', `${name}.cnf`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  return { key: readFileSync(path.join(dir, `${name}.key`)), cert: readFileSync(path.join(dir, `${name}.pem`)) };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'keel-e2e-tls-'));
  const caFile = makeCA('ca');
  makeCA('rogue-ca');
  trusted = { caFile, ...makeServerCert('server', 'ca', 'localhost', 'IP:127.0.0.1, DNS:localhost') };
  mismatched = makeServerCert('other', 'ca', 'other.example', 'DNS:other.example');
  untrusted = makeServerCert('rogue', 'rogue-ca', 'localhost', 'IP:127.0.0.1, DNS:localhost');
  fakes.trusted = await startFakeOpenAI({ tls: trusted });
  fakes.mismatched = await startFakeOpenAI({ tls: mismatched });
  fakes.untrusted = await startFakeOpenAI({ tls: untrusted });
});

after(async () => {
  for (const fake of Object.values(fakes)) await fake.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const model = (name, target) => ({
  name, strategy: 'failover', retries: 0, timeout_ms: 5000, first_token_timeout_ms: 3000,
  targets: [{ provider: 'up', model: target }],
});

// keel with one provider `up` at baseUrl; SSL_CERT_FILE is the test CA unless caFile is null,
// in which case it is removed from keel's environment (so only the real system store is used).
async function keelFor(baseUrl, models, caFile = trusted.caFile) {
  return startKeel({
    providers: [{ name: 'up', kind: 'openai', base_url: baseUrl, api_key: UPSTREAM_KEY, connect_timeout_ms: 3000 }],
    models,
    env: { SSL_CERT_FILE: caFile ?? undefined, SSL_CERT_DIR: caFile ? undefined : process.env.SSL_CERT_DIR },
  });
}

async function withKeel(keelPromise, fn) {
  const keel = await keelPromise;
  try {
    await fn(keel);
  } finally {
    await keel.stop();
    keel.cleanup();
  }
}

const hello = [{ role: 'user', content: 'hi' }];

describe('TLS to an upstream with a certificate from the SSL_CERT_FILE CA', () => {
  for (const host of ['localhost', '127.0.0.1']) {
    test(`https://${host}: plain and streamed chat work`, async () => {
      const fake = fakes.trusted;
      const plainName = `ok-tls-${host}`;
      const streamName = `ok-tls-stream-${host}`;
      await withKeel(keelFor(fake.urlFor(host), [model('plain', plainName), model('streamed', streamName)]), async (keel) => {
        const client = makeClient(keel);
        const r = await client.chat.completions.create({ model: 'plain', messages: hello });
        assert.equal(r.choices[0].message.content, FAKE_TEXT);
        assert.equal(fake.hits(plainName), 1);
        assert.equal(fake.requestsFor(plainName)[0].headers.authorization, `Bearer ${UPSTREAM_KEY}`);
        // keel sends the Host it was configured with (and SNI for a name).
        assert.equal(fake.requestsFor(plainName)[0].headers.host, `${host}:${fake.port}`);

        const stream = await client.chat.completions.create({ model: 'streamed', messages: hello, stream: true });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
        assert.equal(text, FAKE_TEXT);
        assert.equal(fake.hits(streamName), 1);

        // A second request reuses the pooled TLS connection or makes a fresh one; either way it works.
        const again = await client.chat.completions.create({ model: 'plain', messages: hello });
        assert.equal(again.choices[0].message.content, FAKE_TEXT);
      });
    });
  }

  test('SNI: the host name for https://localhost, none for an IP literal (RFC 6066 §3)', async () => {
    const fake = fakes.trusted;
    await withKeel(keelFor(fake.urlFor('localhost'), [model('m', 'ok-tls-sni-name')]), async (keel) => {
      const before = fake.stats.servernames.length;
      const r = await postJSON(keel, '/v1/chat/completions', { model: 'm', messages: hello });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(fake.stats.servernames.slice(before), ['localhost']);
    });
    await withKeel(keelFor(fake.urlFor('127.0.0.1'), [model('m', 'ok-tls-sni-ip')]), async (keel) => {
      const before = fake.stats.servernames.length;
      const r = await postJSON(keel, '/v1/chat/completions', { model: 'm', messages: hello });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(fake.stats.servernames.slice(before), [null],
        '"Literal IPv4 and IPv6 addresses are not permitted in HostName" (RFC 6066 §3): keel must not send SNI for an IP');
    });
  });

  test('streamed over TLS with include_usage: raw SSE ends with usage and [DONE]', async () => {
    const fake = fakes.trusted;
    await withKeel(keelFor(fake.urlFor('localhost'), [model('streamed', 'ok-tls-usage')]), async (keel) => {
      const res = await postJSON(keel, '/v1/chat/completions',
        { model: 'streamed', messages: hello, stream: true, stream_options: { include_usage: true } });
      assert.equal(res.status, 200, res.text);
      const data = sseData(res.text);
      assert.equal(data[data.length - 1], '[DONE]');
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
      assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), FAKE_TEXT);
      assert.equal(chunks[chunks.length - 1].usage.total_tokens, 8);
    });
  });
});

// The failure is keel's (TLS verification), so the client sees 502/503 naming TLS or the certificate.
async function assertTlsFailure(keel, fake, upstreamName) {
  const errorsBefore = fake.stats.tlsErrors.length;
  const res = await postJSON(keel, '/v1/chat/completions', { model: 'm', messages: hello });
  assert.ok(res.status === 502 || res.status === 503, `status ${res.status}: ${res.text}`);
  const e = errorOf(res.json);
  assert.match(e.message, /TLS|SSL|certificate/i, `the message says it was TLS: ${e.message}`);
  assert.equal(fake.hits(upstreamName), 0, 'no request got past the handshake');
  // The stream form fails the same way, before any byte of a 200.
  const streamed = await postJSON(keel, '/v1/chat/completions', { model: 'm', messages: hello, stream: true });
  assert.ok(streamed.status === 502 || streamed.status === 503, `status ${streamed.status}: ${streamed.text}`);
  assert.match(errorOf(streamed.json).message, /TLS|SSL|certificate/i);
  assert.equal(fake.hits(upstreamName), 0);
  // keel aborted the handshake itself (the fake saw a failed handshake), not the request later.
  assert.ok(fake.stats.tlsErrors.length > errorsBefore, `the fake saw the handshake fail: ${JSON.stringify(fake.stats.tlsErrors)}`);
  return e;
}

describe('TLS verification failures', () => {
  test('a certificate from a CA keel does not trust (no SSL_CERT_FILE): 502/503 naming TLS', async () => {
    const fake = fakes.trusted;
    await withKeel(keelFor(fake.urlFor('localhost'), [model('m', 'ok-tls-nocafile')], null), async (keel) => {
      const e = await assertTlsFailure(keel, fake, 'ok-tls-nocafile');
      assert.match(e.message, /certificate|verify/i, e.message);
    });
  });

  test('a certificate from another CA while SSL_CERT_FILE names ours: 502/503 naming TLS', async () => {
    const fake = fakes.untrusted;
    await withKeel(keelFor(fake.urlFor('localhost'), [model('m', 'ok-tls-rogue')]), async (keel) => {
      await assertTlsFailure(keel, fake, 'ok-tls-rogue');
    });
  });

  for (const host of ['localhost', '127.0.0.1']) {
    test(`hostname mismatch (certificate for other.example only, reached as ${host}): fails`, async () => {
      const fake = fakes.mismatched;
      const name = `ok-tls-mismatch-${host}`;
      await withKeel(keelFor(fake.urlFor(host), [model('m', name)]), async (keel) => {
        await assertTlsFailure(keel, fake, name);
      });
    });
  }

  test('a plain-HTTP upstream behind an https:// base_url fails cleanly, keel stays up', async () => {
    const plain = await startFakeOpenAI();
    try {
      await withKeel(keelFor(plain.urlFor('127.0.0.1').replace('http://', 'https://'), [model('m', 'ok-tls-plain')]), async (keel) => {
        const res = await postJSON(keel, '/v1/chat/completions', { model: 'm', messages: hello });
        assert.ok(res.status === 502 || res.status === 503, `status ${res.status}: ${res.text}`);
        errorOf(res.json);
        assert.equal(plain.hits('ok-tls-plain'), 0);
        const health = await fetch(`${keel.base}/healthz`);
        assert.equal(health.status, 200);
      });
    } finally {
      await plain.close();
    }
  });
});
