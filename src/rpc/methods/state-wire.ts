/** Wire pieces shared by the state and card methods. */
import { z } from 'zod';

export const conflictPolicy = z.enum(['skip', 'replace', 'rename']);
export const base64 = z.string().min(1).regex(/^[A-Za-z0-9+/=\s]+$/, 'must be base64');
