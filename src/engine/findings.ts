import type { ObjectRef, RuleId, SubjectRef } from './types.js';

/**
 * What a rule reports before actions are applied. `advisory` findings are capped at warn
 * (e.g. a hostNetwork pod: allowed, but worth knowing).
 */
export interface RuleFinding {
  rule: RuleId;
  severity: 'violation' | 'advisory';
  /** The full explanation, for denials, audit logs and `check`. */
  message: string;
  /** The same under 256 characters: what the user sees when the finding is only a warning. */
  warning: string;
  subjects: SubjectRef[];
}

export interface Finding {
  rule: RuleId;
  action: 'deny' | 'warn' | 'audit';
  object: ObjectRef;
  message: string;
  subjects: SubjectRef[];
}

/** Kubernetes truncates long admission warnings; keep every warning under 256 characters. */
export const WARNING_LIMIT = 255;

export function clip(text: string, limit = WARNING_LIMIT): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/** Join as many parts as fit under the warning limit; the first part always appears (clipped if need be). */
export function fitted(parts: readonly string[], limit = WARNING_LIMIT): string {
  let text = '';
  for (const part of parts) {
    if (text !== '' && text.length + part.length > limit) break;
    text += part;
  }
  return clip(text, limit);
}

export function compareSubjects(a: SubjectRef, b: SubjectRef): number {
  return a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name);
}

/** A whole number of seconds as people write a window: 1d, 6h, 30m, 45s. */
export function durationText(seconds: number): string {
  if (seconds > 0 && seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds > 0 && seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds > 0 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
