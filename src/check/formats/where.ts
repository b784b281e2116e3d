/** Shared by the report formats: where a finding points, and what the run was asked. */
import type { CheckResult, LocatedFinding } from '../check.js';

export interface FormatContext {
  /** Findings at or above this action fail the run (and are failures in JUnit). */
  failOn: 'deny' | 'warn';
  /** mtls-guard's version, for SARIF's tool.driver. */
  version: string;
  /** The directory relative paths are relative to (SARIF's %SRCROOT%). */
  cwd: string;
}

export interface FileLine {
  file: string;
  line: number;
}

/** `file:line` back into its parts; undefined for stdin and for objects that come from no file. */
export function fileLine(source: string): FileLine | undefined {
  const match = /^(.*):(\d+)$/.exec(source);
  if (!match || match[1] === '<stdin>' || match[1] === '' || Number(match[2]) < 1) return undefined;
  return { file: match[1] as string, line: Number(match[2]) };
}

export const objectName = (object: LocatedFinding['object']): string =>
  `${object.kind} ${object.namespace ? `${object.namespace}/` : ''}${object.name}`;

export function failing(action: LocatedFinding['action'], failOn: FormatContext['failOn']): boolean {
  return action === 'deny' || (failOn === 'warn' && action === 'warn');
}

/** Exit status of a run (SPEC 3.1): 1 when a finding is at or above --fail-on. */
export function exitCode(result: CheckResult, failOn: FormatContext['failOn']): number {
  return result.findings.some((f) => failing(f.action, failOn)) ? 1 : 0;
}
