import { z } from 'zod';
import { parseInput } from '../validation/parse-input.js';
import { CallHomeClientSchema, type CallHomeClient } from './client-credentials.js';
import { CallHomeError } from './errors.js';

const Port = z.number().int().min(1).max(65535);

const PortTargetSchema = z.union([
  z
    .object({ host: z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/, 'a host name or address'), port: Port })
    .strict(),
  z.object({ unixPath: z.string().regex(/^\/[^\s\0]{1,106}$/, 'an absolute unix socket path') }).strict(),
]);

export const CallHomePortSchema = z.object({ virtualPort: Port, target: PortTargetSchema }).strict();
export type CallHomePort = z.infer<typeof CallHomePortSchema>;

export const CallHomeSettingsSchema = z
  .object({
    /** What the service offers: the port clients dial on the .onion address, and where tor connects. */
    ports: z
      .array(CallHomePortSchema)
      .min(1, 'at least one port')
      .refine(
        (ports) => new Set(ports.map((port) => port.virtualPort)).size === ports.length,
        'each virtual port once',
      ),
    /** The devices allowed to see the service (their x25519 public keys). */
    clients: z
      .array(CallHomeClientSchema)
      .default([])
      .refine(
        (clients) => new Set(clients.map((client) => client.name)).size === clients.length,
        'unique client names',
      )
      .refine(
        (clients) => new Set(clients.map((client) => client.publicKeyBase32)).size === clients.length,
        'unique client keys',
      ),
    /** Publish without client authorization when no client is listed: anyone who learns the address sees it. */
    allowWithoutClientAuth: z.boolean().default(false),
    /** Reconnection after tor's control connection is lost: first delay, doubling up to the most. */
    reconnectDelayMs: z
      .object({ initial: z.number().int().min(10), max: z.number().int().min(10) })
      .strict()
      .default({ initial: 500, max: 30_000 }),
    /**
     * Publish again (DEL_ONION + ADD_ONION, same key) when tor has not reported the descriptor uploaded this
     * long (times the attempt number) after publishing: tor waits one to two hours after a skipped or
     * failed upload before it tries again by itself.
     */
    republishAfterMs: z.number().int().min(1_000).default(120_000),
  })
  .strict();

export type CallHomeSettings = z.input<typeof CallHomeSettingsSchema>;
export type ParsedCallHomeSettings = z.output<typeof CallHomeSettingsSchema> & {
  readonly clients: CallHomeClient[];
};

/** Validates with `schema`, turning zod's report into CALLHOME_INVALID_OPTIONS. */
export function parseCallHomeInput<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  what: string,
): z.output<Schema> {
  return parseInput(
    schema,
    input,
    '(value)',
    (problems) => new CallHomeError('CALLHOME_INVALID_OPTIONS', `invalid ${what}: ${problems}`),
  );
}

/** The delay before reconnection attempt `attempt` (1, 2, …): initial, doubling, capped. */
export function reconnectDelay(
  attempt: number,
  delays: { readonly initial: number; readonly max: number },
): number {
  return Math.min(delays.max, delays.initial * 2 ** Math.max(0, attempt - 1));
}
