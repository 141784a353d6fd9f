// Original file: proto/shoal/v1/peer_node.proto


export interface FetchRequest {
  'infoHash'?: (string);
  'magnet'?: (string);
  'torrent'?: (Buffer | Uint8Array | string);
  'destination'?: (string);
  'source'?: "infoHash"|"magnet"|"torrent";
}

export interface FetchRequest__Output {
  'infoHash'?: (string);
  'magnet'?: (string);
  'torrent'?: (Buffer);
  'destination': (string);
  'source'?: "infoHash"|"magnet"|"torrent";
}
