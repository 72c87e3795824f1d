import { describe, expect, it } from 'vitest';
import { checkEmbeddingModel } from './doctor-checks.js';

const model = (name: string) => ({ name, sizeBytes: null, family: null, parameterSize: null, modifiedAt: null });

describe('checkEmbeddingModel', () => {
  it('warns with the exact ollama pull line when the embedding model is missing', () => {
    expect(checkEmbeddingModel({ embedder: 'auto', embedModel: 'nomic-embed-text' }, [model('llama3.1:8b')])).toEqual({
      id: 'embedding_model',
      status: 'warn',
      title: 'Embedding model nomic-embed-text is not installed — memory search uses the offline embedder meanwhile',
      fix: 'ollama pull nomic-embed-text',
    });
  });

  it('accepts the :latest tag, skips when Ollama is down, and needs nothing with the offline embedder', () => {
    expect(checkEmbeddingModel({ embedder: 'ollama', embedModel: 'nomic-embed-text' }, [model('nomic-embed-text:latest')]).status).toBe('ok');
    expect(checkEmbeddingModel({ embedder: 'auto', embedModel: 'mxbai-embed-large' }, null)).toMatchObject({
      status: 'skip',
      fix: 'Once Ollama runs: ollama pull mxbai-embed-large',
    });
    expect(checkEmbeddingModel({ embedder: 'offline', embedModel: 'nomic-embed-text' }, null).status).toBe('ok');
  });
});
