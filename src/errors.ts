/** The one registry of coded errors mtls-guard reports to users. Each maps to an exit code. */

export type ErrorCode =
  | 'MTLS_GUARD_USAGE'
  | 'MTLS_GUARD_INPUT_UNREADABLE'
  | 'MTLS_GUARD_INPUT_SYNTAX'
  | 'MTLS_GUARD_INPUT_OBJECT'
  | 'MTLS_GUARD_INPUT_DUPLICATE'
  | 'MTLS_GUARD_CONFIG_INVALID'
  | 'MTLS_GUARD_CLUSTER_UNREACHABLE'
  | 'MTLS_GUARD_CLUSTER_DENIED'
  | 'MTLS_GUARD_CLUSTER_ERROR';

/** An error caused by what the user gave us: reported as one line on stderr, exit code 2, never a stack trace. */
export class UserError extends Error {
  readonly code: ErrorCode;
  readonly exitCode = 2;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'UserError';
    this.code = code;
  }
}

export const usage = (message: string): UserError => new UserError('MTLS_GUARD_USAGE', message);

export const unreadable = (file: string, reason: string): UserError =>
  new UserError('MTLS_GUARD_INPUT_UNREADABLE', `${file}: cannot read: ${reason}`);

export const syntax = (where: string, reason: string): UserError => new UserError('MTLS_GUARD_INPUT_SYNTAX', `${where}: ${reason}`);

export const badObject = (where: string, reason: string): UserError => new UserError('MTLS_GUARD_INPUT_OBJECT', `${where}: ${reason}`);

export const duplicate = (what: string, first: string, second: string): UserError =>
  new UserError('MTLS_GUARD_INPUT_DUPLICATE', `${second}: ${what} is also defined at ${first}; each object may appear once`);

export const invalidConfig = (file: string, problems: readonly string[]): UserError =>
  new UserError('MTLS_GUARD_CONFIG_INVALID', `${file}: invalid config: ${problems.join('; ')}`);

/** The live cluster `check --kubeconfig` reads could not be read: exit 2, one line naming the cluster. */
export const clusterError = (
  code: 'MTLS_GUARD_CLUSTER_UNREACHABLE' | 'MTLS_GUARD_CLUSTER_DENIED' | 'MTLS_GUARD_CLUSTER_ERROR',
  message: string,
): UserError => new UserError(code, message);

/** Node's fs error codes in words a user understands. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
