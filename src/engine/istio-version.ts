/** The Istio releases whose injection semantics mtls-guard follows (config `istioVersion`, SPEC 2.4). */

export const SUPPORTED_ISTIO_VERSIONS = ['1.24', '1.25', '1.26', '1.27', '1.28', '1.29', '1.30'] as const;
export type IstioVersion = (typeof SUPPORTED_ISTIO_VERSIONS)[number];
export const NEWEST_ISTIO_VERSION: IstioVersion = '1.30';

function minor(version: string): number {
  return Number(version.split('.')[1] ?? 0);
}

/**
 * How injectRequired (pkg/kube/inject/inject.go) reads the value of sidecar.istio.io/inject:
 * through 1.26 it lowercases it and injects for y/yes/true/on, any other non-empty value opts out;
 * from 1.27 only "true" and "false" mean anything, every other value falls back to the injector's policy.
 */
export type InjectValueReading = 'yaml-bool' | 'true-false';

export function injectValueReading(version: string): InjectValueReading {
  return minor(version) <= 26 ? 'yaml-bool' : 'true-false';
}
