import { describe, expect, it } from 'vitest';
import { isValidModelName, modelfileParameters, personaModelName, renderModelfile } from './modelfile.js';

describe('Modelfile', () => {
  it('writes FROM, ADAPTER, PARAMETER lines and a triple-quoted SYSTEM', () => {
    const text = renderModelfile({ from: 'llama3.1:8b', system: 'You are Aria.\nStay in character.', parameters: { temperature: 0.8, top_p: 0.9, num_ctx: 8192 }, adapter: '/models/aria-lora.gguf' });

    expect(text).toBe(
      'FROM llama3.1:8b\nADAPTER /models/aria-lora.gguf\nPARAMETER temperature 0.8\nPARAMETER top_p 0.9\nPARAMETER num_ctx 8192\nSYSTEM """You are Aria.\nStay in character."""\n',
    );
  });

  it('keeps only parameters a Modelfile knows, and a prompt cannot close the SYSTEM string early', () => {
    expect(modelfileParameters({ temperature: 0.7, frequency_penalty: 1, top_k: 40 })).toEqual({ parameters: { temperature: 0.7, top_k: 40 }, dropped: ['frequency_penalty'] });
    const text = renderModelfile({ from: 'x', system: 'say """hi"""', parameters: { frequency_penalty: 1 }, adapter: null });
    expect(text).toBe("FROM x\nSYSTEM \"\"\"say '''hi'''\"\"\"\n");
  });

  it('names a persona model after the persona, in characters Ollama accepts', () => {
    expect(personaModelName('aria')).toBe('aria-persona');
    expect(personaModelName('Captain Nemo!')).toBe('captain-nemo-persona');
    expect(isValidModelName('aria-persona')).toBe(true);
    expect(isValidModelName('me/aria-persona:v2')).toBe(true);
    expect(isValidModelName('bad name')).toBe(false);
    expect(isValidModelName('../x')).toBe(false);
  });
});
