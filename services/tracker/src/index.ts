// The tracker is a process (src/main.ts); these are its pure parts, exported for tools and docs.
export { loadTrackerConfig, type TrackerConfig, TrackerEnv } from './config.ts';
export { TrackerError, TrackerErrorCode } from './errors.ts';
export {
  HANDOUT_POLICIES,
  type HandoutPolicy,
  type HandoutPolicyName,
  type HandoutRequester,
  localityHandout,
  localityTier,
  type PeerCandidate,
  randomHandout,
} from './handout.ts';
export {
  encodeAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  parseAnnounceQuery,
  parseRawQuery,
  parseScrapeQuery,
  percentDecode,
} from './http-codec.ts';
export { canonicalPeerIp, ipv4Bytes, ipv6Bytes } from './ip.ts';
