// Telling sync's own NEWAE writes apart from everything else. The kernel builds the CU event
// that follows a NEWAE with the request's own nlmsg_pid and nlmsg_seq (docs/kernel/newae.md;
// net/xfrm/xfrm_user.c: xfrm_new_ae(), `c.portid = nlh->nlmsg_pid`), so each sync writer
// stamps its requests with a fixed pid that no socket gets by autobind (a process id, at most
// 2^22, or on a collision a negative one, 2^31 and above as u32: net/netlink/af_netlink.c:
// netlink_autobind()), and `sync send` drops CU events that carry one. Verified on the lab
// kernel (test/lab-sync-apply.test.ts).
// A receiver's writes therefore never travel back to the peer, and two nodes can each run
// both commands without echoing.
import { XFRM_AE_CU } from '../xfrm/constants.js';

/** nlmsg_pid of NEWAE requests from `sync receive` ("xasr"). */
export const RECEIVER_WRITE_PID = 0x78617372;
/** nlmsg_pid of the threshold writes of `sync send` ("xass"). */
export const SENDER_WRITE_PID = 0x78617373;

/** A CU event caused by one of sync's own writes (CR and CE events carry no meaningful pid). */
export function isSyncWrite(flags: number, pid: number): boolean {
  return (flags & XFRM_AE_CU) !== 0 && (pid === RECEIVER_WRITE_PID || pid === SENDER_WRITE_PID);
}
