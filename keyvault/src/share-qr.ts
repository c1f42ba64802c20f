import QRCode from 'qrcode';
import { formatShareCompact } from './share-codec.js';
import type { VaultShare } from './share.js';

/*
 * QR codes carry the compact form (`MVSHARE:` and the lines run together). It uses only
 * characters of QR's alphanumeric mode, which packs 5.5 bits per character: a plain share fits a
 * 37×37 code (version 5) at error-correction level M, which survives a creased or faded printout.
 */
const QR_OPTIONS = { errorCorrectionLevel: 'M', margin: 4 } as const;

/**
 * The code's content as one alphanumeric segment. Left to itself, the library splits runs of digits into
 * numeric segments, which makes the code's size depend on the share's random bytes.
 */
export function shareQrSegments(share: VaultShare): QRCode.QRCodeSegment[] {
  return [{ data: formatShareCompact(share), mode: 'alphanumeric' }];
}

export async function shareQrSvg(share: VaultShare): Promise<string> {
  return QRCode.toString(shareQrSegments(share), { ...QR_OPTIONS, type: 'svg' });
}

export async function shareQrPng(share: VaultShare, options: { scale?: number } = {}): Promise<Buffer> {
  return QRCode.toBuffer(shareQrSegments(share), {
    ...QR_OPTIONS,
    type: 'png',
    scale: options.scale ?? 8,
  });
}
