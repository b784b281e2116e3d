/**
 * Kubernetes label selectors (metav1.LabelSelector), matched as apimachinery's LabelSelectorAsSelector does:
 * matchLabels and matchExpressions are ANDed; In / NotIn / Exists / DoesNotExist; case-sensitive.
 */
import type { Labels } from './types.js';

export interface SelectorRequirement {
  key: string;
  operator: string;
  values?: readonly string[];
}

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: readonly SelectorRequirement[];
}

export const SELECTOR_OPERATORS: readonly string[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/** Why apimachinery would refuse the selector, or undefined when it is valid. */
export function selectorError(selector: LabelSelector): string | undefined {
  for (const requirement of selector.matchExpressions ?? []) {
    const count = requirement.values?.length ?? 0;
    switch (requirement.operator) {
      case 'In':
      case 'NotIn':
        if (count === 0) return `matchExpressions ${requirement.key} ${requirement.operator} needs at least one value`;
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (count > 0) return `matchExpressions ${requirement.key} ${requirement.operator} takes no values`;
        break;
      default:
        return `matchExpressions ${requirement.key}: unknown operator ${JSON.stringify(requirement.operator)}`;
    }
  }
  return undefined;
}

/** No matchLabels and no matchExpressions: matches everything (apimachinery's selector.Empty()). */
export function isEmptySelector(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0;
}

function requirementMatches(requirement: SelectorRequirement, labels: Labels): boolean {
  const present = Object.hasOwn(labels, requirement.key);
  const value = labels[requirement.key];
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case 'In':
      return present && values.includes(value as string);
    case 'NotIn':
      return !present || !values.includes(value as string);
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
    default:
      return false;
  }
}

/**
 * Does the selector select these labels? An absent selector selects everything (the API server defaults a
 * webhook's selectors to {}). An invalid selector selects nothing.
 */
export function matchesSelector(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (selector === undefined) return true;
  if (selectorError(selector) !== undefined) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every((requirement) => requirementMatches(requirement, labels));
}

/** The selector as `kubectl` would print it, for messages: "istio.io/rev in (canary),istio-injection!". */
export function describeSelector(selector: LabelSelector | undefined): string {
  if (selector === undefined || isEmptySelector(selector)) return '(everything)';
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const r of selector.matchExpressions ?? []) {
    const values = (r.values ?? []).join(',');
    if (r.operator === 'In') parts.push(`${r.key} in (${values})`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin (${values})`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`);
    else parts.push(`${r.key} ${r.operator} (${values})`);
  }
  return parts.join(',');
}
