export { decodeMessage, describeIssues, encodeMessage } from './codec.ts';
export { BusError, BusErrorCode } from './errors.ts';
export * from './fleet.ts';
export { bytesToHex, HEX_ID_LENGTH, HexId, hexToBytes, isHexId } from './ids.ts';
export * from './piece-store.ts';
export {
  type BusReply,
  ErrorReply,
  MAX_ERROR_REPLY_BYTES,
  type NatsRequester,
  type RequestOptions,
  requestJson,
  SERVICE_ERROR_CODE_HEADER,
  SERVICE_ERROR_HEADER,
} from './request.ts';
export {
  createSubjects,
  DEFAULT_SUBJECT_PREFIX,
  type Subjects,
  subjectToken,
  TRACKER_QUEUE_GROUP,
  TRACKER_SERVICE_NAME,
} from './subjects.ts';
export {
  AnnouncedPeer,
  AnnounceEvent,
  AnnounceRequest,
  AnnounceResponse,
  announceOverNats,
  DEFAULT_NUMWANT,
  decodeSwarmStats,
  encodeSwarmStats,
  Label,
  MAX_NUMWANT,
  MAX_NUMWANT_ACCEPTED,
  MAX_SCRAPE_INFOHASHES,
  MAX_SWARM_STATS_BYTES,
  MAX_TRACKER_REPLY_BYTES,
  MAX_TRACKER_REQUEST_BYTES,
  PeerIp,
  PeerLabels,
  ScrapeRequest,
  ScrapeResponse,
  SwarmCounts,
  SwarmStats,
  scrapeOverNats,
  TRACKER_ERROR_STATUS,
  type TrackerClientOptions,
  TrackerErrorCode,
} from './tracker.ts';
