/**
 * Messages between the pool (main thread) and hash workers. Piece bytes never travel in them:
 * each job shares one SharedArrayBuffer ring with the workers, and tasks name a byte range in it.
 */
export type ToWorker =
  | { type: 'attach'; job: number; ring: SharedArrayBuffer }
  | { type: 'detach'; job: number }
  | {
      type: 'pieces';
      job: number;
      slot: number;
      block: number;
      offset: number;
      length: number;
      pieceLength: number;
    }
  | {
      type: 'sha256-update';
      job: number;
      slot: number;
      stream: number;
      offset: number;
      length: number;
    }
  | { type: 'sha256-digest'; job: number; stream: number };

export type FromWorker =
  | { type: 'pieces'; job: number; slot: number; block: number; digests: Uint8Array }
  | { type: 'sha256-updated'; job: number; slot: number }
  | { type: 'sha256'; job: number; stream: number; digest: Uint8Array };
