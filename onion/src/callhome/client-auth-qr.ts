import QRCode from 'qrcode';

/*
 * The auth line is 128 characters (56 + 20 + 52); the encoder puts the upper-case key in an alphanumeric
 * segment and the rest in byte mode, which fits version 7 (45×45) at error-correction level M: a size a
 * phone camera reads off a terminal or a printout.
 */
const QR_OPTIONS = { errorCorrectionLevel: 'M', margin: 4 } as const;

/** The client's auth line as a QR code: SVG (web manager) and Unicode blocks (a terminal, `mvctl`). */
export async function clientAuthQr(authLine: string): Promise<{ svg: string; terminal: string }> {
  const [svg, terminal] = await Promise.all([
    QRCode.toString(authLine, { ...QR_OPTIONS, type: 'svg' }),
    QRCode.toString(authLine, { ...QR_OPTIONS, type: 'utf8' }),
  ]);
  return { svg, terminal };
}

/** The same code as a PNG. */
export function clientAuthQrPng(
  authLine: string,
  options: { readonly scale?: number } = {},
): Promise<Buffer> {
  return QRCode.toBuffer(authLine, { ...QR_OPTIONS, type: 'png', scale: options.scale ?? 6 });
}
