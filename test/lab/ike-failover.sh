#!/bin/sh
# A real IKE daemon failing over and back (issue 19, "Proof"), run inside the UML kernel lab:
# strongSwan on a peer P and on two gateways A and S that share a virtual address held by
# keepalived, 100 packets/s each way between P and a host H behind the gateways, A crashes, S
# takes over and renegotiates; A comes back as the standby, S crashes, A takes over.
#
#   netns L holds two hubs (tc mirred floods every frame to the other ports of its hub: the 6.12+
#   lab kernels have no bridge):
#     outside 192.0.2.0/24:  P .1 (protected address 198.51.100.1), A .2, S .3, VIP .10
#     inside  10.1.0.0/24:   A .2, S .3, H .100, VIP .1 (H's default gateway)
#   keepalived on A and S (both BACKUP, nopreempt: a node that comes back stays the standby; VRRP
#   unicast adverts over the outside hub) holds both virtual addresses. One IKEv2 connection
#   P <-> 192.0.2.10, PSK, tunnel mode, 198.51.100.0/24 <-> 10.1.0.0/24. A and S load the same
#   connection (test/lab/strongswan.sh; settings and reasons: docs/sync-ike.md).
#
# keepalived's notify_master (both gateways): `xaev sync takeover` unless SYNC=off, then
# `swanctl --initiate` in the background (retried), so the new active renegotiates.
#   SYNC=off        no xaev
#   SYNC=counters   each gateway runs `xaev sync receive $SYNC_RECEIVE_ARGS --from 'ip netns exec
#                   OTHER xaev sync send $SYNC_SEND_ARGS'` (the command stands in for ssh)
#   SYNC=replicate  the same, with SYNC_SEND_ARGS='--replicate sas,policies' and
#                   SYNC_RECEIVE_ARGS='--install' unless given (docs/sync.md, replication)
#
# Phases (wall-clock times in phases.txt): A becomes master and initiates; traffic; STEADY_S
# seconds; fail-1: A crashes (every process in its namespace stopped and killed, its links down,
# its name gone so that sync reconnects fail); S takes over; SETTLE_S seconds after S's IKE_SA is
# up: settled-1; back-A: A "reboots" (empty SAD/SPD, no virtual address) and comes back as the
# standby; STEADY_S; fail-2: S crashes the same way; A takes over; settled-2; end.
# Outputs in $LAB_OUT: flow-P.log, flow-H.log and capture-P.log (test/lab/ike-failover.pl),
# events-NODE.txt (notify_master, takeover, initiation), per node and phase `ip -s xfrm state`
# (state-NODE-PHASE.txt), `ip xfrm policy` (policy-), `swanctl --list-sas` (sas-) and
# /proc/net/xfrm_stat (xfrm_stat-); charon-NODE.log, keepalived-NODE-N.log, takeover-NODE.txt.
# test/lab-ike-failover.test.ts computes the figures.
set -u
. "$LAB_DIR/topology.sh"
. "$LAB_DIR/strongswan.sh"

SYNC=${SYNC:-off}
case $SYNC in
off | counters) ;;
replicate)
	: "${SYNC_SEND_ARGS=--replicate sas,policies}"
	: "${SYNC_RECEIVE_ARGS=--install}"
	;;
*) echo "SYNC must be off, counters or replicate (not '$SYNC')" >&2; exit 2 ;;
esac
SYNC_SEND_ARGS=${SYNC_SEND_ARGS:-}
SYNC_RECEIVE_ARGS=${SYNC_RECEIVE_ARGS:-}
STEADY_S=${STEADY_S:-3}
SETTLE_S=${SETTLE_S:-12}
PL="$LAB_DIR/ike-failover.pl"
P_OUT=192.0.2.1 A_OUT=192.0.2.2 S_OUT=192.0.2.3 VIP=192.0.2.10
A_IN=10.1.0.2 S_IN=10.1.0.3 H_IP=10.1.0.100 VIP_IN=10.1.0.1
P_IP=198.51.100.1 P_NET=198.51.100.0/24 H_NET=10.1.0.0/24
PORT=6000
RUN=/run/lab/ike
mkdir -p "$RUN"

now() { date +%s.%N; }
mark() { echo "$1 $(now)" >> "$LAB_OUT/phases.txt"; }
has_vip() { ip -n "$1" -4 addr show dev eth0 | grep -q " $VIP/"; }
# snap PHASE NODE...: SAD with counters, SPD, the daemon's SAs and the XFRM error counters of each NODE.
snap() {
	_ph=$1; shift
	for _n in "$@"; do
		ip -n "$_n" -s xfrm state > "$LAB_OUT/state-$_n-$_ph.txt"
		ip -n "$_n" xfrm policy > "$LAB_OUT/policy-$_n-$_ph.txt"
		ip netns exec "$_n" cat /proc/net/xfrm_stat > "$LAB_OUT/xfrm_stat-$_n-$_ph.txt"
		lab_swanctl "$_n" --list-sas > "$LAB_OUT/sas-$_n-$_ph.txt" 2>&1
	done
}
# For background runs: `exec` makes $! the process itself.
pl_bg() { _ns=$1; shift; exec ip netns exec "$_ns" perl "$PL" "$@"; }
exec_bg() { exec "$@"; }

lab_strongswan_check || exit 3

step "topology: P, A, S on the outside hub, A, S, H on the inside hub; SYNC=$SYNC"
ip -batch - <<-EOF
netns add L
netns add P
netns add A
netns add S
netns add H
link add op netns L type veth peer name eth0 netns P
link add oa netns L type veth peer name eth0 netns A
link add os netns L type veth peer name eth0 netns S
link add ia netns L type veth peer name eth1 netns A
link add is netns L type veth peer name eth1 netns S
link add ih netns L type veth peer name eth0 netns H
EOF
# hub PORT...: every frame that enters one port leaves by all the others.
hub() {
	for _port; do
		# Mirror to every other port but the last, which takes the frame itself.
		_acts= _last=
		for _o; do
			[ "$_o" != "$_port" ] || continue
			[ -z "$_last" ] || _acts="$_acts action mirred egress mirror dev $_last pipe"
			_last=$_o
		done
		_acts="$_acts action mirred egress redirect dev $_last"
		ip -n L link set "$_port" up
		tc -n L qdisc add dev "$_port" ingress
		# shellcheck disable=SC2086
		tc -n L filter add dev "$_port" ingress matchall $_acts
	done
}
hub op oa os
hub ia is ih
ip -n P -batch - <<-EOF
link set lo up
addr add $P_OUT/24 dev eth0
addr add $P_IP/32 dev lo
link set eth0 up
route add $H_NET via $VIP src $P_IP
EOF
for n in A:$A_OUT:$A_IN S:$S_OUT:$S_IN; do
	node=${n%%:*} addrs=${n#*:}
	ip -n "$node" -batch - <<-EOF
	link set lo up
	addr add ${addrs%%:*}/24 dev eth0
	addr add ${addrs#*:}/24 dev eth1
	link set eth0 up
	link set eth1 up
	route add $P_NET via $P_OUT
	EOF
	ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
done
ip -n H -batch - <<-EOF
link set lo up
addr add $H_IP/24 dev eth0
link set eth0 up
route add default via $VIP_IN
EOF
# P and H follow the new master's gratuitous ARP at once (default locktime 1 s).
ip netns exec P sysctl -qw net.ipv4.neigh.eth0.locktime=0
ip netns exec H sysctl -qw net.ipv4.neigh.eth0.locktime=0

step "strongSwan on P, A and S"
PSK='xaev lab: not a secret'
IKE_PROPOSALS=aes128gcm16-prfsha256-x25519
ESP_PROPOSALS=aes128gcm16-esn
# The peer: replaces an IKE_SA when the same identity sets up a new one (unique = replace; from
# the same address as here, strongSwan deletes the old one 10 s later, so both CHILD_SAs overlap);
# DPD only after 30 s without inbound traffic.
lab_strongswan_conf P
cat > "$LAB_IKE/P/swanctl.conf" <<-EOF
connections {
  gw {
    version = 2
    local_addrs = $P_OUT
    remote_addrs = $VIP
    proposals = $IKE_PROPOSALS
    mobike = no
    unique = replace
    dpd_delay = 30s
    local {
      auth = psk
      id = peer.example
    }
    remote {
      auth = psk
      id = gw.example
    }
    children {
      net {
        local_ts = $P_NET
        remote_ts = $H_NET
        mode = tunnel
        esp_proposals = $ESP_PROPOSALS
        start_action = none
        dpd_action = restart
        close_action = none
      }
    }
  }
}
secrets {
  ike-gw {
    id-peer = peer.example
    id-gw = gw.example
    secret = "$PSK"
  }
}
EOF
# The gateways: the same connection on both; passive (start_action = none: notify_master
# initiates); no INITIAL_CONTACT (unique = never), which would make the peer destroy the old
# IKE_SA and its CHILD_SAs at once; a fixed reqid, so that both daemons' policies name the same
# SAs (replicated ones included). A policy with the same selector that another program installed
# is replaced by the daemon's own (5.9.8 retries an EEXIST as XFRM_MSG_UPDPOLICY).
for node in A S; do
	lab_strongswan_conf $node
	cat > "$LAB_IKE/$node/swanctl.conf" <<-EOF
	connections {
	  peer {
	    version = 2
	    local_addrs = $VIP
	    remote_addrs = $P_OUT
	    proposals = $IKE_PROPOSALS
	    mobike = no
	    unique = never
	    dpd_delay = 30s
	    local {
	      auth = psk
	      id = gw.example
	    }
	    remote {
	      auth = psk
	      id = peer.example
	    }
	    children {
	      net {
	        local_ts = $H_NET
	        remote_ts = $P_NET
	        mode = tunnel
	        esp_proposals = $ESP_PROPOSALS
	        reqid = 1
	        start_action = none
	        dpd_action = clear
	        close_action = none
	      }
	    }
	  }
	}
	secrets {
	  ike-peer {
	    id-peer = peer.example
	    id-gw = gw.example
	    secret = "$PSK"
	  }
	}
	EOF
done
# start_ike NODE: charon in NODE with its connection loaded.
start_ike() {
	lab_charon_start "$1" || exit 1
	lab_swanctl "$1" --load-all --file "$LAB_IKE/$1/swanctl.conf" >> "$LAB_OUT/swanctl-load-$1.txt" 2>&1 ||
		{ echo "swanctl --load-all failed in $1: $(cat "$LAB_OUT/swanctl-load-$1.txt")"; exit 1; }
}
start_ike P
start_ike A
start_ike S

step "keepalived and notify_master on A and S"
# gateway_scripts NODE SELF PEER PRIORITY: keepalived's configuration, notify_master and the
# background initiation for NODE.
gateway_scripts() {
	cat > "$RUN/initiate-$1.sh" <<-EOF
	#!/bin/sh
	# Renegotiate in the background: the new active's own IKE_SA and CHILD_SA.
	for try in 1 2 3 4 5; do
	  echo "initiate-start \$try \$(date +%s.%N)" >> "$LAB_OUT/events-$1.txt"
	  if STRONGSWAN_CONF="$LAB_IKE/$1/strongswan.conf" swanctl --initiate --child net --timeout 10 \\
	      --uri "unix://$LAB_IKE/$1/vici"; then
	    echo "initiate-ok \$try \$(date +%s.%N)" >> "$LAB_OUT/events-$1.txt"
	    exit 0
	  fi
	  sleep 1
	done
	echo "initiate-failed \$(date +%s.%N)" >> "$LAB_OUT/events-$1.txt"
	EOF
	cat > "$RUN/notify-$1.sh" <<-EOF
	#!/bin/sh
	echo "master \$(date +%s.%N)" >> "$LAB_OUT/events-$1.txt"
	if [ "$SYNC" != off ]; then
	  "$LAB_NODE" "$XAEV" sync takeover >> "$LAB_OUT/takeover-$1.txt" 2>&1
	  echo "takeover \$? \$(date +%s.%N)" >> "$LAB_OUT/events-$1.txt"
	fi
	setsid -f sh "$RUN/initiate-$1.sh" >> "$LAB_OUT/initiate-$1.txt" 2>&1 < /dev/null
	EOF
	chmod 755 "$RUN/notify-$1.sh" "$RUN/initiate-$1.sh"
	cat > "$RUN/keepalived-$1.conf" <<-EOF
	global_defs {
	  router_id $1
	  script_user root
	  enable_script_security
	}
	vrrp_instance VI_1 {
	  state BACKUP
	  nopreempt
	  interface eth0
	  virtual_router_id 51
	  priority $4
	  advert_int 1
	  unicast_src_ip $2
	  unicast_peer {
	    $3
	  }
	  virtual_ipaddress {
	    $VIP/24 dev eth0
	    $VIP_IN/24 dev eth1
	  }
	  notify_master $RUN/notify-$1.sh
	}
	EOF
}
gateway_scripts A $A_OUT $S_OUT 150
gateway_scripts S $S_OUT $A_OUT 100
# start_keepalived NODE N: the N-th keepalived of NODE (its log: keepalived-NODE-N.log).
start_keepalived() {
	exec ip netns exec "$1" keepalived --dont-fork --log-console --log-detail --no-syslog --vrrp \
		-f "$RUN/keepalived-$1.conf" -p "$RUN/keepalived-$1-$2.pid" -r "$RUN/keepalived-vrrp-$1-$2.pid" \
		> "$LAB_OUT/keepalived-$1-$2.log" 2>&1 &
}
# control_socket NODE: the path of NODE's sync receiver's control socket (docs/sync.md).
control_socket() { echo "/run/xaev/sync-net$(stat -L -c %i "/run/netns/$1").sock"; }
# receiver_up NODE PID SOCKET: the receiver listens; ends the scenario if it exited.
receiver_up() {
	kill -0 "$2" 2>/dev/null || { echo "xaev sync receive in $1 exited: $(cat "$LAB_OUT/receive-$1.err")"; exit 1; }
	test -S "$3"
}
# start_receiver NODE OTHER: NODE's `xaev sync receive` from OTHER's sender (SYNC != off); waits
# until it listens on its control socket.
start_receiver() {
	[ "$SYNC" = off ] && return 0
	_sock=$(control_socket "$1")
	# shellcheck disable=SC2086
	exec_bg ip netns exec "$1" "$LAB_NODE" "$XAEV" sync receive $SYNC_RECEIVE_ARGS \
		--from "ip netns exec $2 $LAB_NODE $XAEV sync send $SYNC_SEND_ARGS" \
		>> "$LAB_OUT/receive-$1.out" 2>> "$LAB_OUT/receive-$1.err" &
	lab_wait_for 60 receiver_up "$1" $! "$_sock" || { echo "xaev sync receive in $1 never listened on $_sock"; exit 1; }
}
# ike_up NODE: NODE's charon has an installed CHILD_SA.
ike_up() { lab_swanctl "$1" --list-sas 2>/dev/null | grep -q INSTALLED; }

# Receivers first (docs/sync.md: before keepalived, so that the first notify_master reaches them).
start_receiver A S
start_receiver S A
start_keepalived A 1
lab_wait_for 20 has_vip A || { echo "A never got $VIP"; exit 1; }
mark a-master
lab_wait_for 30 ike_up A || { echo "A's charon never set up its CHILD_SA"; cat "$LAB_OUT/initiate-A.txt"; exit 1; }
mark a-ike
start_keepalived S 1
# S must have heard A: a second master would take the address too.
lab_wait_for 20 grep -q 'Entering BACKUP STATE' "$LAB_OUT/keepalived-S-1.log" || { echo "S never became BACKUP"; exit 1; }

step "traffic: $PORT/udp both ways between P ($P_IP) and H ($H_IP), 100 packets/s"
STOP=$RUN/stop
# On the hub's port to P: what is on P's wire.
pl_bg L capture --dev op --outer $P_OUT --port $PORT --log "$LAB_OUT/capture-P.log" --ready "$RUN/capture-ready" --stop "$STOP" &
CAPTURE=$!
lab_wait_for 20 test -e "$RUN/capture-ready" || { echo "capture never started"; exit 1; }
pl_bg P flow --bind $P_IP --to $H_IP --port $PORT --log "$LAB_OUT/flow-P.log" --stop "$STOP" \
	--ready "$RUN/flow-P-ready" --go "$RUN/go" > "$LAB_OUT/flow-P.txt" &
FLOW_P=$!
pl_bg H flow --bind $H_IP --to $P_IP --port $PORT --log "$LAB_OUT/flow-H.log" --stop "$STOP" \
	--ready "$RUN/flow-H-ready" --go "$RUN/go" > "$LAB_OUT/flow-H.txt" &
FLOW_H=$!
lab_wait_for 20 test -e "$RUN/flow-P-ready" -a -e "$RUN/flow-H-ready" || { echo "the flows never started"; exit 1; }
touch "$RUN/go"
mark traffic

# failover K ACTIVE STANDBY: ACTIVE crashes; STANDBY takes over and renegotiates.
failover() {
	_k=$1 _act=$2 _sby=$3
	sleep "$STEADY_S"
	snap before-$_k P "$_sby"
	step "failover $_k: $_act crashes"
	# One `ip` before the crash: every process in the namespace (charon, keepalived, xaev) dies
	# at one instant (shell builtins only), then the links go down. Stopped before they are
	# killed: keepalived's VRRP process gets SIGTERM when its parent dies (PR_SET_PDEATHSIG) and
	# would send a priority-0 advert, which a crashed node never sends.
	_pids=$(ip netns pids "$_act")
	mark fail-$_k
	# shellcheck disable=SC2086
	kill -STOP $_pids
	# shellcheck disable=SC2086
	kill -KILL $_pids
	ip -n "$_act" link set eth0 down
	ip -n "$_act" link set eth1 down
	# ... and sync reconnects fail as an ssh to a dead host would: the name goes, the namespace
	# lives on as ${_act}dead.
	touch "/run/netns/${_act}dead"
	mount --bind "/run/netns/$_act" "/run/netns/${_act}dead"
	ip netns del "$_act"
	snap fail-$_k P
	ip netns exec "$_sby" cat /proc/net/xfrm_stat > "$LAB_OUT/xfrm_stat-$_sby-fail-$_k.txt"
	step "failover $_k: $_sby takes over"
	lab_wait_for 20 has_vip "$_sby" || { echo "$_sby never got $VIP"; exit 1; }
	mark vip-$_k
	lab_wait_for 60 ike_up "$_sby" || { echo "$_sby's charon never set up its CHILD_SA"; cat "$LAB_OUT/initiate-$_sby.txt"; exit 1; }
	mark ike-$_k
	sleep "$SETTLE_S"
	mark settled-$_k
	snap settled-$_k P "$_sby"
}

# come_back NODE OTHER N: NODE reboots (empty SAD and SPD, no virtual address, fresh daemons) and
# rejoins as the standby.
come_back() {
	step "$1 comes back as the standby"
	touch "/run/netns/$1"
	mount --bind "/run/netns/${1}dead" "/run/netns/$1"
	# A reboot empties /run: the dead receiver's control socket goes with it.
	rm -f "$(control_socket "$1")"
	ip -n "$1" -batch - <<-EOF
	xfrm state flush
	xfrm policy flush
	addr flush dev eth0 to $VIP/32
	addr flush dev eth1 to $VIP_IN/32
	link set eth0 up
	link set eth1 up
	route replace $P_NET via $P_OUT
	EOF
	start_ike "$1"
	start_receiver "$1" "$2"
	start_keepalived "$1" "$3"
	lab_wait_for 20 grep -q 'Entering BACKUP STATE' "$LAB_OUT/keepalived-$1-$3.log" || { echo "$1 never became BACKUP"; exit 1; }
	mark back-$1
}

failover 1 A S
come_back A S 2
failover 2 S A

step "stop"
touch "$STOP"
wait "$FLOW_P" "$FLOW_H" "$CAPTURE"
mark end
# The live gateway's keepalived (A's second one) stops cleanly; uml-init.sh ends the rest.
kill -TERM "$(cat "$RUN/keepalived-A-2.pid")" 2>/dev/null
step "done"
exit 0
