// The receiver's view of this node's own policies, by shared name (stream-replica.ts:
// policyName()): filled from a dump and kept current by the policy group, so that the
// installer (installer.ts) knows what the standby lacks and what its IKE daemon or operator
// made. Socket policies are per socket, not in the SPD replication copies: left out.
import type { XfrmClient } from '../xfrm/client.js';
import { isSocketPolicy, type PolicyTemplate, type XfrmPolicy } from '../xfrm/policy-message.js';
import type { PolicyNotice } from './intake.js';
import { policyName } from './stream-replica.js';

/** A copy that holds no view into a datagram the socket will reuse. */
function copyPolicy(policy: XfrmPolicy): XfrmPolicy {
  const copyBytes = (bytes: Buffer): Buffer => Buffer.from(bytes);
  const selector = { ...policy.selector, saddr: copyBytes(policy.selector.saddr), daddr: copyBytes(policy.selector.daddr) };
  const templates = policy.templates.map((t): PolicyTemplate => ({ ...t, saddr: copyBytes(t.saddr), id: { ...t.id, daddr: copyBytes(t.id.daddr) } }));
  const securityContext = policy.securityContext ? { ...policy.securityContext, context: copyBytes(policy.securityContext.context) } : undefined;
  return { ...policy, selector, templates, mark: policy.mark ? { ...policy.mark } : undefined, securityContext };
}

/**
 * Whether two policies of the same name do the same: action, priority, flags and templates
 * (the name holds the rest). Tells a local policy that equals a replicated one from one that
 * conflicts with it. Buffers compare by content (JSON.stringify writes their bytes).
 */
export function samePolicy(a: XfrmPolicy, b: XfrmPolicy): boolean {
  const effect = (p: XfrmPolicy): string => JSON.stringify([p.action, p.priority, p.flags, p.templates]);
  return effect(a) === effect(b);
}

export interface LocalPolicyChange {
  name: string;
  present: boolean;
  /** The nlmsg_pid of the request that caused it (echo.ts tells the receiver's own). */
  pid: number;
}

export class LocalPolicyTable {
  private readonly policies = new Map<string, XfrmPolicy>();

  constructor(private readonly client: XfrmClient) {}

  /** (Re)read every policy: at start, and after policy notifications were lost. */
  load(): void {
    this.policies.clear();
    for (const policy of this.client.dumpPolicies()) {
      if (!isSocketPolicy(policy)) this.policies.set(policyName(policy), policy);
    }
  }

  /** A policy-group notice; undefined for a socket policy. */
  onNotice(notice: PolicyNotice): LocalPolicyChange | undefined {
    if (isSocketPolicy(notice.policy)) return undefined;
    const name = policyName(notice.policy);
    if (notice.change === 'delete') this.policies.delete(name);
    else this.policies.set(name, copyPolicy(notice.policy));
    return { name, present: notice.change !== 'delete', pid: notice.pid };
  }

  get(name: string): XfrmPolicy | undefined {
    return this.policies.get(name);
  }

  /** What the receiver just installed, known before its notification arrives. */
  installed(name: string, policy: XfrmPolicy): void {
    this.policies.set(name, policy);
  }

  removed(name: string): void {
    this.policies.delete(name);
  }
}
