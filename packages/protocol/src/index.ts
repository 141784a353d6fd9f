export * from './bencode.ts';
export * from './errors.ts';
export * from './magnet.ts';
export * from './metainfo.ts';
export * from './wire/index.ts';
