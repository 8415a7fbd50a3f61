export { KinemaError, isKinemaError, KINEMA_ERROR_CODES } from './errors';
export type { KinemaErrorCode, KinemaErrorDetails } from './errors';
