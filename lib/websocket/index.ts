export { keepUpgradeRequests } from './upgrade-requests.js';
export { type TwoFactorWsError } from './ws-exception.js';
