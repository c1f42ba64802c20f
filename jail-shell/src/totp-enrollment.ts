import { generateURI } from 'otplib';
import QRCode from 'qrcode';

export interface TotpEnrollment {
  /** `otpauth://totp/…?secret=…` — what an authenticator app imports. */
  readonly uri: string;
  /** The URI as a QR code drawn with half-block characters and ANSI black-on-white, for a terminal. */
  readonly qrCode: string;
}

/**
 * What the owner hands a new jail user: the otpauth URI of their secret (RFC 6238: SHA-1, 6 digits,
 * 30 s, the parameters every authenticator app assumes) and the same as a terminal QR code. The QR
 * code forces black on white so it scans on dark terminals too.
 */
export async function describeTotpEnrollment(options: {
  readonly issuer: string;
  /** Who the code is for, e.g. `alice@host`. */
  readonly account: string;
  readonly secret: string;
}): Promise<TotpEnrollment> {
  const uri = generateURI({
    issuer: options.issuer,
    label: options.account,
    secret: options.secret,
  });
  const qrCode = await QRCode.toString(uri, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
  return { uri, qrCode };
}
