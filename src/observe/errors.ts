/** Errors of the observe layer. */
import { SkeinError } from '../memory/errors.js';

/** An optional peer dependency (prom-client) is not installed; the message says how to add it. */
export class MissingPeerDependencyError extends SkeinError {}
