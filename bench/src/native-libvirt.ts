/**
 * The optional native binding `@unraid/libvirt`, the one libvirt binding for Node a user might otherwise pick.
 * It is an optionalDependency compiled by node-gyp at install time, so it may be missing or unbuilt: it is
 * loaded dynamically and checked for the few methods this benchmark calls.
 */

/** A domain object of the binding; only the binding looks inside. */
export type NativeDomain = object;

/** The part of the binding's `Hypervisor` this benchmark uses. */
export interface NativeHypervisor {
  connectOpen(): Promise<void>;
  connectClose(): Promise<void>;
  connectListAllDomains(): Promise<NativeDomain[]>;
  domainLookupByName(name: string): Promise<NativeDomain>;
  /** virDomainGetInfo: the binding's only way to a domain's state (it has no virDomainGetState). */
  domainGetInfo(domain: NativeDomain): Promise<{ state: number }>;
}

export type NativeBinding =
  { available: true; hypervisor: NativeHypervisor } | { available: false; reason: string };

export const NATIVE_BINDING_PACKAGE = '@unraid/libvirt';
const USED_METHODS = [
  'connectOpen',
  'connectClose',
  'connectListAllDomains',
  'domainLookupByName',
  'domainGetInfo',
] as const;

/** Loads the binding and opens `uri` with it; a binding that cannot be loaded or connected is reported, not thrown. */
export async function openNativeBinding(
  uri: string,
  packageName = NATIVE_BINDING_PACKAGE,
): Promise<NativeBinding> {
  let hypervisor: NativeHypervisor;
  try {
    const loaded: unknown = await import(packageName);
    const Hypervisor =
      typeof loaded === 'object' && loaded !== null && 'Hypervisor' in loaded ? loaded.Hypervisor : undefined;
    if (typeof Hypervisor !== 'function') {
      return { available: false, reason: `${packageName} exports no Hypervisor class` };
    }
    // The constructor is where the binding requires its compiled addon, so an unbuilt install fails here.
    const created: unknown = Reflect.construct(Hypervisor, [{ uri }]);
    const missing = USED_METHODS.filter(
      (method) => typeof (created as Record<string, unknown>)[method] !== 'function',
    );
    if (missing.length > 0) {
      return { available: false, reason: `${packageName} Hypervisor lacks ${missing.join(', ')}` };
    }
    hypervisor = created as NativeHypervisor;
  } catch (error) {
    return { available: false, reason: `${packageName} did not load: ${firstLine(error)}` };
  }
  try {
    await hypervisor.connectOpen();
  } catch (error) {
    return { available: false, reason: `${packageName} could not open ${uri}: ${firstLine(error)}` };
  }
  return { available: true, hypervisor };
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n', 1)[0]!;
}
