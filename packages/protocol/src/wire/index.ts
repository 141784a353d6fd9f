// BitTorrent peer wire protocol codec (BEP 3, 5, 6, 9, 10): pure, bytes in, messages out.
export * from './decoder.ts';
export * from './errors.ts';
export * from './extended.ts';
export * from './fast.ts';
export * from './handshake.ts';
export * from './messages.ts';
export * from './metadata.ts';
