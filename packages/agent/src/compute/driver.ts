/**
 * The compute driver seam: what the agent's services need from a hypervisor. libvirt implements it
 * (libvirt.ts); domains are keyed by server id. Failures are the agent's domain errors: NotFound
 * (`domain_not_found`), Unavailable (`libvirt_unavailable`, retryable) and HostFailure (`libvirt_error`).
 */
import type { DomainDevice, DomainFacts, DomainSpec, DomainState } from './types.js';

/** What {@link ComputeDriver.ensureDomain} did to reach the running state. */
export type EnsureDomainAction = 'created' | 'started' | 'resumed' | 'paused' | 'stopped' | 'unchanged';

/** How {@link ComputeDriver.stopDomain} stopped a domain. */
export type StopResult = 'clean' | 'forced' | 'already';

/** The response of {@link ComputeDriver.ensureDomain}. */
export interface EnsureDomainResult {
  action: EnsureDomainAction;
  state: DomainState;
}

/** A hypervisor driver. */
export interface ComputeDriver {
  /** Makes the server's domain exist (defined from `spec`, its hardware from the guest profile) and run. */
  ensureDomain(spec: DomainSpec): Promise<EnsureDomainResult>;
  /** Stops and removes the server's domain (and its UEFI variable store); false when there was none. */
  deleteDomain(serverId: string): Promise<boolean>;
  /** The run state of the server's domain, `absent` when there is none. */
  domainState(serverId: string): Promise<DomainState>;
  /** Facts about a domain named `ref` (name or UUID), for import and drift checks. */
  inspectDomain(ref: string): Promise<DomainFacts>;
  /**
   * Adds a device to the server's domain: to the running guest and to its persistent definition (only the
   * definition when the domain is shut off).
   */
  attachDevice(serverId: string, device: DomainDevice): Promise<void>;
  /**
   * Removes a device from the running guest and the persistent definition (the definition only when shut
   * off). On a running guest it waits (at most `timeoutMs`, default 60 s) for libvirt's device-removed
   * event, which comes once the guest released the device; throws `detach_timeout` when it does not.
   */
  detachDevice(serverId: string, device: DomainDevice, timeoutMs?: number): Promise<void>;
  /**
   * Shuts the domain down as Nova's stop does: the ACPI power button, then, when the guest has not stopped
   * within `timeoutMs`, a hard stop. Answers how it stopped (`already` when it was not running).
   */
  stopDomain(serverId: string, timeoutMs: number): Promise<StopResult>;
  /**
   * Presses and releases `keys` (Linux input key names such as `KEY_ENTER`, libvirt's `linux` codeset)
   * together on the running domain's keyboard (`virsh send-key`). Throws NotFound (`domain_not_found`)
   * when there is no domain, HostFailure when it is not running.
   */
  sendKey(serverId: string, keys: readonly string[]): Promise<void>;
  /** Grows a disk of a running domain (`virsh blockresize`), so the guest sees the new size at once. */
  resizeDisk(serverId: string, target: string, sizeBytes: number): Promise<void>;
  /**
   * The live XML of the server's domain (what libvirt allocated at start: ptys, VNC sockets); throws
   * NotFound (`domain_not_found`) when there is none. Optional: drivers without consoles omit it.
   */
  domainXml?(serverId: string): Promise<string>;
  /** Releases the hypervisor connection. */
  close(): Promise<void>;
}
