// The detections, one pure module each: state code gathers the counts, these
// decide. A shared-state backend reuses them unchanged.
export { errorIp, errorIpCandidate, type ErrorIpResult } from './error-ip';
export { failureSpike, failureSpikeCandidate, type FailureSpikeResult } from './failure-spike';
export { credentialIps, credentialIpsCandidate, distinctIpsSince, newestIps } from './credential-ips';
