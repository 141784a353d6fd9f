import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { type Artifact__Output, type PieceStoreHandlers, pieceStoreProto } from '../src/index.ts';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

test('the committed generated types match the .proto files', (t) => {
  const outDir = mkdtempSync(join(tmpdir(), 'shoal-proto-'));
  t.after(() => rmSync(outDir, { recursive: true, force: true }));
  const generate = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).scripts
    .generate as string;
  const args = generate.replace('-O src/generated', `-O ${outDir}`).split(' ').slice(1);
  execFileSync(join(packageDir, 'node_modules/.bin/proto-loader-gen-types'), args, {
    cwd: packageDir,
    stdio: 'pipe',
  });
  const committedDir = join(packageDir, 'src/generated');
  const fresh = listFiles(outDir);
  assert.deepEqual(listFiles(committedDir), fresh, 'run `pnpm generate` in packages/proto');
  for (const file of fresh) {
    assert.equal(
      readFileSync(join(committedDir, file), 'utf8'),
      readFileSync(join(outDir, file), 'utf8'),
      `${file} is stale: run \`pnpm generate\` in packages/proto`,
    );
  }
});

test('a real grpc-js server and client speak the PieceStore service', async (t) => {
  const server = new grpc.Server();
  const stat: PieceStoreHandlers['Stat'] = (call, callback) => {
    if (call.request.infoHash === '') {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'infoHash is required' });
      return;
    }
    callback(null, { infoHash: call.request.infoHash, size: 42, name: 'build.tar' });
  };
  server.addService(pieceStoreProto.PieceStore.service, { Stat: stat } as PieceStoreHandlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const client = new pieceStoreProto.PieceStore(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  );
  t.after(() => {
    client.close();
    server.forceShutdown();
  });
  const reply = await new Promise<Artifact__Output>((resolve, reject) =>
    client.Stat({ infoHash: 'ab'.repeat(20) }, (error, value) =>
      error || !value ? reject(error) : resolve(value),
    ),
  );
  assert.equal(reply.infoHash, 'ab'.repeat(20));
  assert.equal(reply.size, 42);
  assert.equal(reply.name, 'build.tar');
  assert.equal(reply.magnet, '', 'defaults: unset strings arrive as empty');
  const failure = await new Promise<grpc.ServiceError>((resolve) =>
    client.Stat({ infoHash: '' }, (error) => resolve(error as grpc.ServiceError)),
  );
  assert.equal(failure.code, grpc.status.INVALID_ARGUMENT);
  assert.match(failure.details, /infoHash is required/);
});
