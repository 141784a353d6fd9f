import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadAutoscalerConfig } from '../src/config.ts';
import { AutoscalerError, AutoscalerErrorCode } from '../src/errors.ts';

const required = {
  SHOAL_AUTOSCALER_NAMESPACE: 'shoal',
  SHOAL_AUTOSCALER_STATEFULSET: 'shoal-piece-store',
};

describe('loadAutoscalerConfig', () => {
  it('fills in the defaults', () => {
    const config = loadAutoscalerConfig(required);
    assert.equal(config.leaseName, 'shoal-autoscaler');
    assert.deepEqual(config.policy, {
      minReplicas: 2,
      maxReplicas: 10,
      leechersPerReplica: 50,
      egressBytesPerReplica: 125_000_000,
      drainTargetMs: 120_000,
      scaleDownWindowMs: 300_000,
    });
    assert.deepEqual(config.lease, { durationS: 15, renewDeadlineMs: 10_000, retryMs: 2000 });
    assert.equal(config.dryRun, false);
  });

  it('refuses missing, unknown and contradictory settings, naming each', () => {
    const refused = (env: Record<string, string>, pattern: RegExp) =>
      assert.throws(
        () => loadAutoscalerConfig(env),
        (error: unknown) =>
          error instanceof AutoscalerError &&
          error.code === AutoscalerErrorCode.InvalidConfig &&
          pattern.test(error.message),
      );
    refused(
      {},
      /SHOAL_AUTOSCALER_NAMESPACE: required[\s\S]*SHOAL_AUTOSCALER_STATEFULSET: required/,
    );
    refused(
      { ...required, SHOAL_AUTOSCALER_MAX_REPLICA: '3' },
      /SHOAL_AUTOSCALER_MAX_REPLICA: not a known/,
    );
    refused({ ...required, SHOAL_AUTOSCALER_STATEFULSET: 'Piece_Store' }, /Kubernetes object name/);
    refused(
      { ...required, SHOAL_AUTOSCALER_MIN_REPLICAS: '5', SHOAL_AUTOSCALER_MAX_REPLICAS: '3' },
      /MIN_REPLICAS \(5\) exceeds/,
    );
    refused(
      { ...required, SHOAL_AUTOSCALER_LEASE_DURATION_S: '5' },
      /RENEW_DEADLINE_MS \(10000\) must be shorter/,
    );
    refused({ ...required, SHOAL_AUTOSCALER_LEASE_RETRY_MS: '6000' }, /at most half/);
    refused({ ...required, SHOAL_AUTOSCALER_API_TIMEOUT_MS: '10000' }, /outlasts the leadership/);
  });
});
