/** The CLI's JSON-RPC client against a small real WebSocket server that answers as scripted. */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { RpcClient, RpcConnectionError, RpcError, type RpcNotification } from './rpc-client.js';

const servers: WebSocketServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A server on an ephemeral port; `onRequest` answers each request frame on its socket. */
async function serve(onRequest: (request: { id: number; method: string; params?: Record<string, unknown> }, socket: WebSocket) => void): Promise<string> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  server.on('connection', (socket) => socket.on('message', (data) => onRequest(JSON.parse(data.toString()), socket)));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
}

describe('RpcClient', () => {
  it('matches answers to requests, in any order, and routes a request’s notifications to it', async () => {
    const url = await serve((request, socket) => {
      if (request.method === 'slow') {
        socket.send(JSON.stringify({ jsonrpc: '2.0', method: 'persona.chat.chunk', params: { request_id: request.id, delta: 'He' } }));
        setTimeout(() => socket.send(JSON.stringify({ jsonrpc: '2.0', id: request.id, result: 'slow done' })), 30);
      } else socket.send(JSON.stringify({ jsonrpc: '2.0', id: request.id, result: `${request.method} done` }));
    });
    const client = await RpcClient.connect(url);
    const seen: RpcNotification[] = [];
    const all: string[] = [];
    client.onNotification((notification) => all.push(notification.method));
    const [slow, fast] = await Promise.all([client.request('slow', {}, { onNotification: (n) => seen.push(n) }), client.request('fast')]);
    expect([slow, fast]).toEqual(['slow done', 'fast done']);
    expect(seen).toEqual([{ method: 'persona.chat.chunk', params: { request_id: 1, delta: 'He' } }]);
    expect(all).toEqual(['persona.chat.chunk']);
    await client.close();
  });

  it('rejects with the server’s error, its code and hint', async () => {
    const url = await serve((request, socket) =>
      socket.send(JSON.stringify({ jsonrpc: '2.0', id: request.id, error: { code: -32001, message: 'No persona "x".', data: { hint: 'List them.' } } })),
    );
    const client = await RpcClient.connect(url);
    const error = await client.request('persona.get').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({ code: -32001, message: 'No persona "x".', hint: 'List them.' });
    await client.close();
  });

  it('fails pending requests and tells listeners when the server closes, and times out when asked', async () => {
    const url = await serve((request, socket) => {
      if (request.method === 'bye') socket.close(1001, 'server shutting down');
    });
    const client = await RpcClient.connect(url);
    await expect(client.request('never', {}, { timeoutMs: 50 })).rejects.toThrow('no response to never within 50 ms');
    const closed = new Promise<string>((resolve) => client.onClose(resolve));
    await expect(client.request('bye')).rejects.toBeInstanceOf(RpcConnectionError);
    expect(await closed).toBe('the server closed the connection (1001: server shutting down)');
    await expect(client.request('after')).rejects.toThrow('the connection is closed');
  });

  it('names the HTTP status of a refused upgrade and an unreachable server', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', verifyClient: (_info, done) => done(false, 401) });
    servers.push(server);
    await new Promise((resolve) => server.once('listening', resolve));
    const refused = await RpcClient.connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`).catch((caught: unknown) => caught);
    expect(refused).toMatchObject({ httpStatus: 401, message: 'HTTP 401 instead of a WebSocket upgrade' });
    await expect(RpcClient.connect('not a url')).rejects.toThrow('is not a WebSocket URL');
    await expect(RpcClient.connect('ws://127.0.0.1:9/mcp')).rejects.toBeInstanceOf(RpcConnectionError);
  });
});
