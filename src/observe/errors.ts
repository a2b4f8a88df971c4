/** Errors of the observe layer. */
import { registerErrorClasses } from '../memory/error-codec.js';
import { SkeinError } from '../memory/errors.js';

/** An optional peer dependency (prom-client) is not installed; the message says how to add it. */
export class MissingPeerDependencyError extends SkeinError {}

// This layer's errors cross threads as their own classes (`instanceof` holds on the receiving side).
registerErrorClasses({ MissingPeerDependencyError });
