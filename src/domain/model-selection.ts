/**
 * Which model answers a request: model references (`ollama:llama3.1:8b`, `openai:qwen2.5-7b-instruct`,
 * `vllm:meta-llama/Llama-3.1-8B-Instruct`, or a bare name on the default backend) and the automatic
 * selection rules, applied in this order (docs/backends.md):
 *
 * 1. **Pin** — a request that names its model explicitly gets exactly that model; nothing below applies,
 *    and a failure is reported as it is.
 * 2. **Order of preference** — the task's model (`llm.tasks.summary`, ...) for background work, then the
 *    persona's model (or the server's default when it names none), then the configured fall-back chain
 *    (`llm.fallback`), in order. Nothing outside this list is ever tried.
 * 3. **Availability** — a candidate whose backend is unreachable, whose model the backend does not have, or
 *    which already failed this turn (missing, busy, unreachable) is passed over.
 * 4. **Prompt size** — a candidate whose context window cannot hold the prompt plus the reply budget is
 *    passed over (a smaller model would silently lose the conversation); when none can, the largest
 *    window answers.
 * 5. **Queue depth** — a candidate whose backend queue is full is passed over.
 * 6. **Latency budget** — a candidate whose expected time (queue ahead of us plus its typical reply time)
 *    exceeds the budget is passed over while another fits; when none fits, the quickest expected answers.
 *
 * The first candidate that passes answers; the choice says which rule decided and why, in words. When
 * none passes, there is no choice and every candidate's reason is listed (never a silent substitute).
 * Facts a backend could not give (`null`) count as passing: the request itself then tells.
 */

/** A model on a named backend. */
export interface ModelRef {
  backend: string;
  model: string;
}

/** Where a candidate came from, in the order of preference. */
export type CandidateSource = 'pin' | 'task' | 'persona' | 'default' | 'fallback';

export interface Candidate {
  ref: ModelRef;
  source: CandidateSource;
}

/** What is known about one candidate right now; `null` means unknown. */
export interface CandidateFacts {
  isBackendReachable: boolean | null;
  isInstalled: boolean | null;
  /** The model's context window in tokens. */
  contextTokens: number;
  /** Requests running on the candidate's backend, its parallel slots, waiting requests and the queue's limit. */
  running: number;
  concurrency: number;
  queued: number;
  maxQueued: number;
  /** Typical duration of a whole reply from this model, from recent turns; null before the first. */
  typicalReplyMs: number | null;
}

export interface SelectionInput {
  /** Candidates in order of preference (see `orderCandidates`). */
  candidates: readonly Candidate[];
  /** Facts per candidate, same order as `candidates`. */
  facts: readonly CandidateFacts[];
  /** Tokens of the prompt that will be sent. */
  promptTokens: number;
  /** Tokens reserved for the reply. */
  replyTokens: number;
  /** Longest acceptable expected reply time, or null for none. */
  latencyBudgetMs: number | null;
  /** Candidates that already failed this turn (by `formatModelRef`), with the reason. */
  failed?: ReadonlyMap<string, string>;
}

/** The rule that decided. */
export type SelectionRule = 'pinned' | 'first-choice' | 'fallback' | 'latency-budget' | 'largest-window';

export interface ModelChoice {
  /** `backend:model`. */
  ref: string;
  backend: string;
  model: string;
  source: CandidateSource;
  rule: SelectionRule;
  /** One sentence a person can read: which model and why. */
  reason: string;
  /** Candidates passed over before this one, with why. */
  skipped: { ref: string; reason: string }[];
}

export interface NoModel {
  skipped: { ref: string; reason: string }[];
}

/**
 * Reads a model reference. `name:rest` where `name` is one of `backends` names that backend; anything
 * else is a model of `defaultBackend` — so `llama3.1:8b` stays an Ollama tag, not a backend called
 * `llama3.1`.
 */
export function parseModelRef(reference: string, backends: readonly string[], defaultBackend: string): ModelRef {
  const colon = reference.indexOf(':');
  if (colon > 0) {
    const prefix = reference.slice(0, colon);
    const rest = reference.slice(colon + 1);
    if (backends.includes(prefix) && rest.length > 0) return { backend: prefix, model: rest };
  }
  return { backend: defaultBackend, model: reference };
}

export function formatModelRef(ref: ModelRef): string {
  return `${ref.backend}:${ref.model}`;
}

/**
 * Whether a backend's model list has `model`. Ollama names without a tag mean `:latest`
 * (`llama3` = `llama3:latest`); other backends compare names exactly.
 */
export function isModelListed(listed: readonly string[], model: string, kind: string): boolean {
  if (kind !== 'ollama') return listed.includes(model);
  const withTag = (name: string): string => (name.includes(':') ? name : `${name}:latest`);
  return listed.some((name) => withTag(name) === withTag(model));
}

/**
 * The candidates for a request, most preferred first, without duplicates: a pin alone; otherwise the
 * task's model (when the task has one), the requested model (the persona's, or the default), then the chain.
 */
export function orderCandidates(input: {
  requested: ModelRef;
  requestedSource: 'persona' | 'default';
  isPinned: boolean;
  taskModel: ModelRef | null;
  fallback: readonly ModelRef[];
}): Candidate[] {
  if (input.isPinned) return [{ ref: input.requested, source: 'pin' }];
  const ordered: Candidate[] = [];
  const add = (ref: ModelRef, source: CandidateSource): void => {
    if (!ordered.some((candidate) => formatModelRef(candidate.ref) === formatModelRef(ref))) ordered.push({ ref, source });
  };
  if (input.taskModel !== null) add(input.taskModel, 'task');
  add(input.requested, input.requestedSource);
  for (const ref of input.fallback) add(ref, 'fallback');
  return ordered;
}

/** Applies the rules above. */
export function selectModel(input: SelectionInput): ModelChoice | NoModel {
  const { candidates, facts } = input;
  const first = candidates[0];
  if (first === undefined) return { skipped: [] };
  if (first.source === 'pin') {
    return choose(first, 'pinned', `${formatModelRef(first.ref)} was pinned by the request`, []);
  }

  const skipped: { ref: string; reason: string }[] = [];
  const overBudget: { candidate: Candidate; expectedMs: number }[] = [];
  const tooSmall: { candidate: Candidate; contextTokens: number }[] = [];
  for (const [index, candidate] of candidates.entries()) {
    const ref = formatModelRef(candidate.ref);
    const fact = facts[index];
    const reason = fact === undefined ? 'nothing is known about it' : unavailableReason(ref, fact, input);
    if (reason !== null) {
      skipped.push({ ref, reason });
      continue;
    }
    const needed = input.promptTokens + input.replyTokens;
    if (fact !== undefined && fact.contextTokens < needed) {
      tooSmall.push({ candidate, contextTokens: fact.contextTokens });
      skipped.push({ ref, reason: `the prompt needs ${needed} tokens but its context window is ${fact.contextTokens}` });
      continue;
    }
    const expectedMs = fact === undefined ? null : expectedReplyMs(fact);
    if (input.latencyBudgetMs !== null && expectedMs !== null && expectedMs > input.latencyBudgetMs) {
      overBudget.push({ candidate, expectedMs });
      skipped.push({ ref, reason: `expected to take ${expectedMs} ms, over the latency budget of ${input.latencyBudgetMs} ms` });
      continue;
    }
    if (skipped.length === 0) return choose(candidate, 'first-choice', `${ref} is the ${describeSource(candidate.source)}`, skipped);
    const firstSkip = skipped[0]!;
    return choose(candidate, 'fallback', `${ref} (${describeSource(candidate.source)}) answered because ${firstSkip.ref} was passed over: ${firstSkip.reason}`, skipped);
  }
  if (overBudget.length > 0) {
    const quickest = overBudget.reduce((best, next) => (next.expectedMs < best.expectedMs ? next : best));
    const ref = formatModelRef(quickest.candidate.ref);
    return choose(
      quickest.candidate,
      'latency-budget',
      `no model is expected within the latency budget of ${input.latencyBudgetMs} ms; ${ref} is the quickest (about ${quickest.expectedMs} ms)`,
      skipped.filter((skip) => skip.ref !== ref),
    );
  }
  if (tooSmall.length > 0) {
    const largest = tooSmall.reduce((best, next) => (next.contextTokens > best.contextTokens ? next : best));
    const ref = formatModelRef(largest.candidate.ref);
    return choose(
      largest.candidate,
      'largest-window',
      `no model's context window holds the whole prompt; ${ref} has the largest (${largest.contextTokens} tokens)`,
      skipped.filter((skip) => skip.ref !== ref),
    );
  }
  return { skipped };
}

export function isModelChoice(result: ModelChoice | NoModel): result is ModelChoice {
  return 'ref' in result;
}

/** Expected milliseconds until a reply finishes: the turns queued ahead of us, then our own. */
export function expectedReplyMs(fact: CandidateFacts): number | null {
  if (fact.typicalReplyMs === null) return null;
  const turnsAhead = Math.floor((fact.running + fact.queued) / Math.max(1, fact.concurrency));
  return Math.round((turnsAhead + 1) * fact.typicalReplyMs);
}

/** Why a candidate cannot answer at all, or null when it can (rules 3 and 5). */
function unavailableReason(ref: string, fact: CandidateFacts, input: SelectionInput): string | null {
  const failed = input.failed?.get(ref);
  if (failed !== undefined) return failed;
  if (fact.isBackendReachable === false) return `its backend is not reachable`;
  if (fact.isInstalled === false) return `the backend does not have this model`;
  if (fact.running >= fact.concurrency && fact.queued >= fact.maxQueued) return `its queue is full (${fact.queued} waiting)`;
  return null;
}

function describeSource(source: CandidateSource): string {
  switch (source) {
    case 'pin':
      return 'pinned model';
    case 'task':
      return "task's model";
    case 'persona':
      return "persona's model";
    case 'default':
      return 'default model';
    case 'fallback':
      return 'next model in the fall-back chain';
  }
}

function choose(candidate: Candidate, rule: SelectionRule, reason: string, skipped: { ref: string; reason: string }[]): ModelChoice {
  return { ref: formatModelRef(candidate.ref), backend: candidate.ref.backend, model: candidate.ref.model, source: candidate.source, rule, reason, skipped };
}
