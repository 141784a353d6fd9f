import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startProcess } from '@shoal/testkit';
import { renderTopologyEnv, topologyFromLabels } from '../src/node-labels.ts';
import { startFakeCluster } from './helpers.ts';

const keys = { zoneKey: 'topology.kubernetes.io/zone', rackKey: 'rack' };

describe('node labels', () => {
  it('takes zone and rack from the labels and leaves out what the peer-node would refuse', () => {
    const problems: string[] = [];
    const topology = topologyFromLabels(
      { 'topology.kubernetes.io/zone': 'eu-west-1a', rack: 'r 7; rm -rf /', other: 'x' },
      keys,
      problems,
    );
    assert.deepEqual(topology, { zone: 'eu-west-1a' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /label rack=/);
    assert.equal(renderTopologyEnv(topology), 'SHOAL_ZONE=eu-west-1a\n');
    assert.equal(renderTopologyEnv({}), '');
  });

  it('writes the env file for its Node through the API (the peer-node init step)', async (t) => {
    const { fake, kubeconfig, dir } = await startFakeCluster(t);
    fake.addNode('worker-3', { 'topology.kubernetes.io/zone': 'z2', rack: 'r9' });
    fake.failNext('GET nodes', 2, 503);
    const output = join(dir, 'labels.env');
    const step = await startProcess(
      process.execPath,
      ['--conditions=source', 'src/node-labels-main.ts'],
      {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: {
          NODE_NAME: 'worker-3',
          SHOAL_NODE_LABELS_OUTPUT: output,
          SHOAL_AUTOSCALER_KUBECONFIG: kubeconfig,
        },
        t,
      },
    );
    assert.deepEqual(await step.exited, { code: 0, signal: null }, step.logs());
    assert.equal(await readFile(output, 'utf8'), 'SHOAL_ZONE=z2\nSHOAL_RACK=r9\n');
    assert.deepEqual(
      fake.requests.map((r) => `${r.verb} ${r.resource} ${r.name} ${r.status}`),
      ['get nodes worker-3 503', 'get nodes worker-3 503', 'get nodes worker-3 200'],
    );
  });

  it('fails with exit code 1 when the Node cannot be read', async (t) => {
    const { kubeconfig, dir } = await startFakeCluster(t);
    const step = await startProcess(
      process.execPath,
      ['--conditions=source', 'src/node-labels-main.ts'],
      {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: {
          NODE_NAME: 'missing',
          SHOAL_NODE_LABELS_OUTPUT: join(dir, 'labels.env'),
          SHOAL_AUTOSCALER_KUBECONFIG: kubeconfig,
        },
        t,
      },
    );
    assert.equal((await step.exited).code, 1);
    assert.match(step.logs(), /nodes \\"missing\\" not found/);
  });
});
