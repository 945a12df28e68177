export { TwoFactorTypesResponseDto } from './two-factor-types-response.dto.js';
