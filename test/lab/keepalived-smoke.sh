#!/bin/sh
# Smoke scenario: keepalived (VRRP) runs inside the lab on either kernel. Two nodes on the
# lab veth link: left (priority 150) must become MASTER and own 192.0.2.100; after its
# keepalived stops, right takes over. Used by test/lab-e2e.test.ts; the same setup is what
# the sync failover proof builds on.
set -u
. "$LAB_DIR/topology.sh"
lab_net
mkdir -p /tmp/ka
for ns in left right; do
	if [ "$ns" = left ]; then prio=150; else prio=100; fi
	cat > /tmp/ka/$ns.conf <<-EOF
	global_defs {
		router_id $ns
		enable_script_security
		script_user root
	}
	vrrp_instance VI {
		state BACKUP
		interface veth0
		virtual_router_id 51
		priority $prio
		advert_int 1
		virtual_ipaddress {
			192.0.2.100/24
		}
	}
	EOF
	ip netns exec $ns keepalived -n -l -f /tmp/ka/$ns.conf -p /run/ka-$ns.pid -r /run/ka-vrrp-$ns.pid \
		> "$LAB_OUT/keepalived-$ns.log" 2>&1 &
	eval "KA_$ns=\$!"
done
# has_vip NS: NS's veth0 carries the virtual address now.
has_vip() {
	case $(ip -n "$1" -4 addr show dev veth0) in *192.0.2.100/24*) return 0 ;; *) return 1 ;; esac
}
# wait_for CONDITION...: poll (up to ~30 s) until CONDITION holds.
wait_for() {
	_i=0
	until "$@"; do
		_i=$((_i + 1))
		[ $_i -le 150 ] || return 1
		sleep 0.2
	done
}
# Both start as BACKUP, and right may be MASTER for a moment before it hears left's
# higher priority: wait until left holds the address and right does not.
left_master() { has_vip left && ! has_vip right; }
wait_for left_master || echo "left never became the only MASTER"
ip -n left -4 addr show dev veth0 > "$LAB_OUT/left-addr.txt"
kill -TERM "$KA_left"
wait_for has_vip right || echo "right never took over"
ip -n right -4 addr show dev veth0 > "$LAB_OUT/right-addr.txt"
kill -TERM "$KA_right"
wait
exit 0
