/**
 * The one table that maps errors to JSON-RPC codes. Standard codes come from the JSON-RPC 2.0
 * specification; application codes sit in the implementation-defined range −32000…−32099.
 * The error table of docs/API.md (#errors) is generated from `APPLICATION_ERRORS` (a test keeps it in sync).
 */
import type { AppErrorKind } from '../domain/errors.js';

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

export interface ApplicationErrorInfo {
  code: number;
  meaning: string;
  whatToDo: string;
}

export const APPLICATION_ERRORS: Record<AppErrorKind, ApplicationErrorInfo> = {
  persona_not_found: {
    code: -32001,
    meaning: 'No persona has that id or name.',
    whatToDo: 'Call `persona.list` for the ids; ids and names are matched case-insensitively.',
  },
  no_active_persona: {
    code: -32002,
    meaning: 'The session has no active persona and the request named none.',
    whatToDo: 'Call `persona.switch` first, or pass `persona_id`.',
  },
  conversation_not_found: {
    code: -32003,
    meaning: 'No such conversation, or it has ended, or it belongs to another session.',
    whatToDo: 'Start one with `conversation.start`; list yours with `session.info`.',
  },
  session_not_found: {
    code: -32004,
    meaning: 'No session has that id (it may have expired after being idle).',
    whatToDo: 'Carry on with the new session this connection already has (`session.info`).',
  },
  llm_unavailable: {
    code: -32010,
    meaning: 'The LLM backend (Ollama or an OpenAI-compatible server) cannot be reached: no connection could be made.',
    // The message names the backend and how to start it (Ollama's or an OpenAI-compatible server's way);
    // a hint naming one of them would tell the other's users to start the wrong program.
    whatToDo: 'Start the backend the message names, or point the server at where it runs; `persona-mcp doctor` checks it. Your message was stored.',
  },
  model_not_installed: {
    code: -32011,
    meaning: "The persona's model is not installed in the backend.",
    whatToDo: 'Get the model onto its backend as the message says (`ollama pull MODEL`, or load it in the OpenAI-compatible server), configure another model, or add a fall-back chain (llm.fallback).',
  },
  llm_timeout: {
    code: -32012,
    meaning: 'The model did not answer in time.',
    whatToDo: 'Retry; raise `llm.timeoutMs` for slow machines or large models. Your message was stored.',
  },
  llm_busy: {
    code: -32013,
    meaning: 'Every chat slot of the backend is busy and its waiting queue is full.',
    whatToDo: 'Retry in a moment; raise `llm.maxQueued` or `llm.concurrency` if this is common.',
  },
  llm_failed: {
    code: -32014,
    meaning: 'The backend failed, its reply broke off, or the connection was closed after the request was sent and before any answer (the backend, or a proxy between that cuts requests waiting for their first token).',
    whatToDo: "Retry; check the backend's own log. Your message was stored.",
  },
  request_too_large: {
    code: -32020,
    meaning: 'The frame or its params exceed the configured size limit.',
    whatToDo: 'Send smaller requests; the limit is `limits.maxFrameBytes`.',
  },
  rate_limited: {
    code: -32021,
    meaning:
      "Too many requests on this connection (`limits.rateLimitPerSecond`), or for the API key or address (`error.data.limit`). The connection's next frames are not read until the time in `retry_after_ms` has passed.",
    whatToDo: 'Slow down; `error.data.retry_after_ms` says when to retry. Frames sent before then wait unread and are answered after it.',
  },
  limit_exceeded: {
    code: -32022,
    meaning: 'A configured limit was reached (message length, concurrent chats, connections, batch size).',
    whatToDo: 'The message names the limit and its value; stay under it.',
  },
  unauthorized: {
    code: -32030,
    meaning: 'Authentication is required or the key is invalid.',
    whatToDo: 'Send `Authorization: Bearer KEY` (or `?token=KEY` from a browser).',
  },
  forbidden: {
    code: -32031,
    meaning: 'The request is not allowed for this user or origin.',
    whatToDo: 'Use a key with access to the resource, or connect from an allowed origin.',
  },
  conflict: {
    code: -32040,
    meaning: 'The request clashes with existing data or the current state (a persona with that name exists, a group without two personas able to talk, ...).',
    whatToDo: 'The message says what clashes and what to do instead (choose another name, update the existing item, restore or wait for a persona, ...).',
  },
  cancelled: {
    code: -32041,
    meaning: 'The request was cancelled (client went away, or the server is shutting down).',
    whatToDo: 'Retry if you still want the answer.',
  },
  storage_error: {
    code: -32050,
    meaning: 'The database could not be read or written (disk full, locked, read-only).',
    whatToDo: 'The message says which; free disk space or stop the other process, then retry.',
  },
  invalid_bundle: {
    code: -32051,
    meaning: 'A state bundle, backup or character card was refused: damaged, tampered with, from a newer persona-mcp, or not of a known format. Nothing was changed.',
    whatToDo: 'The message names the problem; export the bundle again, or upgrade persona-mcp for a newer one.',
  },
  memory_not_found: {
    code: -32060,
    meaning: 'No memory has that id (it may have been deleted, pruned or forgotten).',
    whatToDo: 'Find current ids with `memory.list` or `memory.search`.',
  },
  invalid_media: {
    code: -32070,
    meaning: 'An attached or uploaded file was refused: not an accepted type (read from its content), too large, or damaged.',
    whatToDo: 'Send a PNG, JPEG, WebP or GIF picture (or MP3, Ogg, WAV, WebM, M4A, FLAC audio) under the size limit (media.maxBytes).',
  },
  model_cannot_see: {
    code: -32071,
    meaning: "Images were attached, but the persona's model cannot take images (it has no vision). Your message was kept without a reply.",
    whatToDo: 'Give the persona a vision model (e.g. `ollama pull llava` and persona.update {"model":"llava"}), or describe the picture in words.',
  },
};
