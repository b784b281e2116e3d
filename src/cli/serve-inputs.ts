/**
 * What `mtls-guard serve` is given, checked before anything is written or started (no certificates are
 * generated for a server that cannot start): the config, the --state manifests, the --kubeconfig file.
 * Reads only; throws a UserError naming the bad input.
 */
import { existsSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import { usage } from '../errors.js';
import { loadManifests } from '../manifests/load.js';
import { buildState } from '../state/build-state.js';

export interface ServeInputs {
  config?: string;
  kubeconfig?: string;
  state?: string[];
}

export async function validateServeInputs(inputs: ServeInputs): Promise<void> {
  await loadConfig(inputs.config);
  if (inputs.kubeconfig !== undefined && !existsSync(inputs.kubeconfig)) throw usage(`--kubeconfig ${inputs.kubeconfig}: no such file`);
  if (inputs.state && inputs.state.length > 0) {
    const objects = await loadManifests(inputs.state, async () => '');
    buildState(objects, 'default');
  }
}
