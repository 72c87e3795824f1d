import { describe, expect, it } from 'vitest';
import {
  expectedReplyMs,
  isModelChoice,
  isModelListed,
  orderCandidates,
  parseModelRef,
  selectModel,
  type Candidate,
  type CandidateFacts,
  type ModelChoice,
  type SelectionInput,
} from './model-selection.js';

const backends = ['ollama', 'openai', 'vllm', 'host'];

describe('parseModelRef', () => {
  it('reads a backend prefix only when it names a configured backend', () => {
    expect(parseModelRef('ollama:llama3.1:8b', backends, 'openai')).toEqual({ backend: 'ollama', model: 'llama3.1:8b' });
    expect(parseModelRef('openai:qwen2.5-7b-instruct', backends, 'ollama')).toEqual({ backend: 'openai', model: 'qwen2.5-7b-instruct' });
    expect(parseModelRef('vllm:meta-llama/Llama-3.1-8B-Instruct', backends, 'ollama')).toEqual({ backend: 'vllm', model: 'meta-llama/Llama-3.1-8B-Instruct' });
  });

  it('keeps an Ollama tag whole and puts a bare name on the default backend', () => {
    expect(parseModelRef('llama3.1:8b', backends, 'ollama')).toEqual({ backend: 'ollama', model: 'llama3.1:8b' });
    expect(parseModelRef('qwen2.5', backends, 'openai')).toEqual({ backend: 'openai', model: 'qwen2.5' });
    expect(parseModelRef('ollama:', backends, 'openai')).toEqual({ backend: 'openai', model: 'ollama:' });
  });
});

describe('isModelListed', () => {
  it('treats an untagged Ollama name as :latest, other backends exactly', () => {
    expect(isModelListed(['llama3:latest'], 'llama3', 'ollama')).toBe(true);
    expect(isModelListed(['llama3'], 'llama3:latest', 'ollama')).toBe(true);
    expect(isModelListed(['llama3:8b'], 'llama3', 'ollama')).toBe(false);
    expect(isModelListed(['qwen'], 'qwen:latest', 'openai')).toBe(false);
  });
});

describe('orderCandidates', () => {
  const ref = (backend: string, model: string) => ({ backend, model });

  it('puts the task model first, then the persona, then the chain, without duplicates', () => {
    const candidates = orderCandidates({
      requested: ref('ollama', 'aria-tuned'),
      requestedSource: 'persona',
      isPinned: false,
      taskModel: ref('ollama', 'llama3.2:1b'),
      fallback: [ref('openai', 'qwen'), ref('ollama', 'aria-tuned'), ref('ollama', 'llama3.1:8b')],
    });
    expect(candidates.map((c) => `${c.source} ${c.ref.backend}:${c.ref.model}`)).toEqual([
      'task ollama:llama3.2:1b',
      'persona ollama:aria-tuned',
      'fallback openai:qwen',
      'fallback ollama:llama3.1:8b',
    ]);
  });

  it('never adds a model outside the request and the chain', () => {
    const candidates = orderCandidates({ requested: ref('ollama', 'x'), requestedSource: 'default', isPinned: false, taskModel: null, fallback: [] });
    expect(candidates).toEqual([{ ref: ref('ollama', 'x'), source: 'default' }]);
  });

  it('gives a pin alone', () => {
    const candidates = orderCandidates({
      requested: ref('openai', 'x'),
      requestedSource: 'persona',
      isPinned: true,
      taskModel: null,
      fallback: [ref('ollama', 'z')],
    });
    expect(candidates).toEqual([{ ref: ref('openai', 'x'), source: 'pin' }]);
  });
});

describe('selectModel', () => {
  const fact = (overrides: Partial<CandidateFacts> = {}): CandidateFacts => ({
    isBackendReachable: true,
    isInstalled: true,
    contextTokens: 8192,
    running: 0,
    concurrency: 1,
    queued: 0,
    maxQueued: 32,
    typicalReplyMs: null,
    ...overrides,
  });
  const candidates: Candidate[] = [
    { ref: { backend: 'ollama', model: 'big' }, source: 'persona' },
    { ref: { backend: 'openai', model: 'mid' }, source: 'default' },
    { ref: { backend: 'ollama', model: 'small' }, source: 'fallback' },
  ];
  const select = (facts: CandidateFacts[], extra: Partial<SelectionInput> = {}): ModelChoice => {
    const result = selectModel({ candidates, facts, promptTokens: 1000, replyTokens: 500, latencyBudgetMs: null, ...extra });
    if (!isModelChoice(result)) throw new Error(`no model: ${JSON.stringify(result.skipped)}`);
    return result;
  };

  it('takes the first candidate when it passes every rule', () => {
    const choice = select([fact(), fact(), fact()]);
    expect(choice).toMatchObject({ ref: 'ollama:big', rule: 'first-choice', reason: "ollama:big is the persona's model", skipped: [] });
  });

  it('falls back past a missing model and says why', () => {
    const choice = select([fact({ isInstalled: false }), fact(), fact()]);
    expect(choice.ref).toBe('openai:mid');
    expect(choice.rule).toBe('fallback');
    expect(choice.reason).toBe('openai:mid (default model) answered because ollama:big was passed over: the backend does not have this model');
  });

  it('passes over an unreachable backend, a full queue and a run-time failure', () => {
    const choice = select([fact({ isBackendReachable: false }), fact({ running: 1, queued: 32 }), fact()]);
    expect(choice.ref).toBe('ollama:small');
    expect(choice.skipped).toEqual([
      { ref: 'ollama:big', reason: 'its backend is not reachable' },
      { ref: 'openai:mid', reason: 'its queue is full (32 waiting)' },
    ]);
    const afterFailure = select([fact(), fact(), fact()], { failed: new Map([['ollama:big', 'it answered busy (HTTP 429)']]) });
    expect(afterFailure.ref).toBe('openai:mid');
    expect(afterFailure.skipped).toEqual([{ ref: 'ollama:big', reason: 'it answered busy (HTTP 429)' }]);
  });

  it('passes over a context window too small for prompt plus reply', () => {
    const choice = select([fact({ contextTokens: 1400 }), fact({ contextTokens: 1500 }), fact()]);
    expect(choice.ref).toBe('openai:mid');
    expect(choice.skipped).toEqual([{ ref: 'ollama:big', reason: 'the prompt needs 1500 tokens but its context window is 1400' }]);
  });

  it('takes the largest window when no window holds the prompt', () => {
    const choice = select([fact({ contextTokens: 1024 }), fact({ contextTokens: 1200 }), fact({ contextTokens: 512 })]);
    expect(choice).toMatchObject({ ref: 'openai:mid', rule: 'largest-window' });
    expect(choice.reason).toBe("no model's context window holds the whole prompt; openai:mid has the largest (1200 tokens)");
  });

  it('counts unknown facts as passing', () => {
    const choice = select([fact({ isBackendReachable: null, isInstalled: null }), fact(), fact()]);
    expect(choice.ref).toBe('ollama:big');
  });

  it('passes over a model expected to exceed the latency budget while another fits', () => {
    const choice = select([fact({ typicalReplyMs: 4000, running: 1, queued: 1 }), fact({ typicalReplyMs: 2000 }), fact()], { latencyBudgetMs: 5000 });
    expect(choice.ref).toBe('openai:mid');
    expect(choice.skipped).toEqual([{ ref: 'ollama:big', reason: 'expected to take 12000 ms, over the latency budget of 5000 ms' }]);
  });

  it('takes the quickest expected model when none fits the latency budget', () => {
    const choice = select([fact({ typicalReplyMs: 9000 }), fact({ typicalReplyMs: 7000 }), fact({ typicalReplyMs: 8000 })], { latencyBudgetMs: 1000 });
    expect(choice.ref).toBe('openai:mid');
    expect(choice.rule).toBe('latency-budget');
    expect(choice.reason).toContain('no model is expected within the latency budget of 1000 ms; openai:mid is the quickest (about 7000 ms)');
    expect(choice.skipped.map((skip) => skip.ref)).toEqual(['ollama:big', 'ollama:small']);
  });

  it('gives no model, with every reason, when nothing can answer', () => {
    const result = selectModel({
      candidates,
      facts: [fact({ isInstalled: false }), fact({ isBackendReachable: false }), fact({ running: 1, queued: 32 })],
      promptTokens: 1000,
      replyTokens: 500,
      latencyBudgetMs: null,
    });
    expect(isModelChoice(result)).toBe(false);
    expect(result.skipped.map((skip) => skip.ref)).toEqual(['ollama:big', 'openai:mid', 'ollama:small']);
  });

  it('answers a pin without looking at any fact', () => {
    const result = selectModel({
      candidates: [{ ref: { backend: 'openai', model: 'x' }, source: 'pin' }],
      facts: [fact({ isInstalled: false })],
      promptTokens: 1,
      replyTokens: 1,
      latencyBudgetMs: 1,
    });
    expect(result).toMatchObject({ ref: 'openai:x', rule: 'pinned', reason: 'openai:x was pinned by the request' });
  });

  it('expects (turns ahead + 1) × typical reply time', () => {
    expect(expectedReplyMs(fact({ typicalReplyMs: 1000, running: 2, queued: 3, concurrency: 2 }))).toBe(3000);
    expect(expectedReplyMs(fact({ typicalReplyMs: null }))).toBeNull();
  });
});
