import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestGuard } from './request-guard.js';

function request(headers: Record<string, string>, remoteAddress = '127.0.0.1'): IncomingMessage {
  return { headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

const loopbackGuard = new RequestGuard({ allowedHosts: [], allowedOrigins: [], listenHost: '127.0.0.1' });

describe('RequestGuard', () => {
  it('accepts the loopback names on any port', () => {
    for (const host of ['127.0.0.1:8000', 'localhost:8000', 'LOCALHOST', '[::1]:9', '127.1.2.3:80', 'localhost.:8000']) {
      expect(loopbackGuard.check(request({ host })).ok).toBe(true);
    }
  });

  it('refuses DNS-rebinding names, missing and malformed hosts', () => {
    for (const host of ['attacker.example:8000', 'attacker.example', '127.0.0.1.attacker.example', 'localhost.evil', '', 'a b', '[::2]:80', '0.0.0.0:8000']) {
      expect(loopbackGuard.check(request({ host })).ok).toBe(false);
    }
    expect(loopbackGuard.check(request({})).ok).toBe(false);
  });

  it('refuses a matching Origin when the Host is not ours (the rebinding request)', () => {
    const verdict = loopbackGuard.check(request({ host: 'attacker.example:8000', origin: 'http://attacker.example:8000' }));
    expect(verdict).toMatchObject({ ok: false, status: 403 });
  });

  it('accepts the own origin, listed origins, no origin; refuses others and "null"', () => {
    const guard = new RequestGuard({ allowedHosts: [], allowedOrigins: ['https://app.example'], listenHost: '127.0.0.1' });
    expect(guard.check(request({ host: '127.0.0.1:8000', origin: 'http://127.0.0.1:8000' })).ok).toBe(true);
    expect(guard.check(request({ host: '127.0.0.1:8000', origin: 'https://app.example' })).ok).toBe(true);
    expect(guard.check(request({ host: '127.0.0.1:8000' })).ok).toBe(true);
    expect(guard.check(request({ host: '127.0.0.1:8000', origin: 'null' })).ok).toBe(false);
    expect(guard.check(request({ host: '127.0.0.1:8000', origin: 'http://localhost:8000' })).ok).toBe(false);
    expect(guard.check(request({ host: '127.0.0.1:8000', origin: 'http://127.0.0.1:8001' })).ok).toBe(false);
  });

  it('compares the scheme of the own origin: http on this plain-HTTP server, https only when listed', () => {
    expect(loopbackGuard.check(request({ host: 'localhost:8000', origin: 'http://localhost:8000' })).ok).toBe(true);
    expect(loopbackGuard.check(request({ host: 'localhost:8000', origin: 'https://localhost:8000' }))).toMatchObject({ ok: false, status: 403 });
    expect(loopbackGuard.check(request({ host: 'localhost:8000', origin: 'ftp://localhost:8000' })).ok).toBe(false);
    const listed = new RequestGuard({ allowedHosts: [], allowedOrigins: ['https://localhost:8000'], listenHost: '127.0.0.1' });
    expect(listed.check(request({ host: 'localhost:8000', origin: 'https://localhost:8000' })).ok).toBe(true);
  });

  it('takes the scheme from X-Forwarded-Proto of a trusted proxy only (TLS ends at the proxy)', () => {
    const behindProxy = new RequestGuard({
      allowedHosts: ['personas.example'],
      allowedOrigins: [],
      listenHost: '0.0.0.0',
      isFromTrustedProxy: (incoming) => incoming.socket.remoteAddress === '10.0.0.2',
    });
    const viaProxy = (origin: string, proto: string): IncomingMessage => request({ host: 'personas.example', origin, 'x-forwarded-proto': proto }, '10.0.0.2');
    expect(behindProxy.check(viaProxy('https://personas.example', 'https')).ok).toBe(true);
    expect(behindProxy.check(viaProxy('http://personas.example', 'https')).ok).toBe(false);
    expect(behindProxy.check(viaProxy('http://personas.example', 'http')).ok).toBe(true);
    // anyone else's X-Forwarded-Proto is not believed
    const direct = request({ host: 'personas.example', origin: 'https://personas.example', 'x-forwarded-proto': 'https' }, '10.0.0.9');
    expect(behindProxy.check(direct).ok).toBe(false);
  });

  it('adds the listen address and http.allowedHosts (names, host:port, "*")', () => {
    const guard = new RequestGuard({ allowedHosts: ['personas.lan', 'box.lan:8443'], allowedOrigins: [], listenHost: '192.168.1.5' });
    expect(guard.check(request({ host: '192.168.1.5:8000' })).ok).toBe(true);
    expect(guard.check(request({ host: 'personas.lan:1234' })).ok).toBe(true);
    expect(guard.check(request({ host: 'box.lan:8443' })).ok).toBe(true);
    expect(guard.check(request({ host: 'box.lan:8000' })).ok).toBe(false);
    const wildcard = new RequestGuard({ allowedHosts: [], allowedOrigins: [], listenHost: '0.0.0.0' });
    expect(wildcard.check(request({ host: '0.0.0.0:8000' })).ok).toBe(false);
    expect(new RequestGuard({ allowedHosts: ['*'], allowedOrigins: [], listenHost: '0.0.0.0' }).check(request({ host: 'anything:1' })).ok).toBe(true);
  });

  it('accepts no random Host outside the allow-list (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.option(fc.string(), { nil: undefined }), (host, origin) => {
        const verdict = loopbackGuard.check(request({ host, ...(origin === undefined ? {} : { origin }) }));
        const name = host.toLowerCase().replace(/:\d{1,5}$/, '').replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
        if (verdict.ok) expect(['localhost', '::1'].includes(name) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)).toBe(true);
      }),
    );
  });
});
