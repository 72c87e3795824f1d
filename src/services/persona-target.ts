/**
 * "The persona named, else the session's active one" — the rule most persona methods follow, in one
 * place, with one error that says what to do when there is neither.
 */
import { AppError } from '../domain/errors.js';
import type { PersonaRecord } from '../ports/store.js';
import type { PersonaService } from './persona-service.js';
import type { SessionBinding } from './session-binding.js';
import type { SessionService } from './session-service.js';

export class PersonaTarget {
  constructor(
    private readonly personas: Pick<PersonaService, 'resolve'>,
    private readonly sessions: Pick<SessionService, 'activePersonaId' | 'activePersonaIdNow'>,
  ) {}

  /**
   * `persona` without a promise when the answer is at hand (a persona named, or the session cached);
   * undefined when it is not, or when there is no persona (then `persona` says so).
   */
  personaNow(binding: SessionBinding, personaId: string | undefined): PersonaRecord | undefined {
    const wanted = personaId ?? this.sessions.activePersonaIdNow(binding);
    return wanted === undefined || wanted === null ? undefined : this.personas.resolve(wanted);
  }

  /** The persona named (id or name), else the session's active one; `no_active_persona` when neither. */
  async persona(binding: SessionBinding, personaId: string | undefined): Promise<PersonaRecord> {
    const persona = await this.personaOrNone(binding, personaId);
    if (persona === null) throw new AppError('no_active_persona', 'No persona is active in this session; pass persona_id or call persona.switch.');
    return persona;
  }

  /** The persona named, else the session's active one, else null (methods that then act on every persona). */
  async personaOrNone(binding: SessionBinding, personaId: string | undefined): Promise<PersonaRecord | null> {
    const wanted = personaId ?? (await this.sessions.activePersonaId(binding));
    return wanted === null ? null : this.personas.resolve(wanted);
  }
}
