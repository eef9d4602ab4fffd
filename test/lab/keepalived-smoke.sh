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
		notify_master "/usr/bin/touch $LAB_OUT/$ns.master"
	}
	EOF
	ip netns exec $ns keepalived -n -l -f /tmp/ka/$ns.conf -p /run/ka-$ns.pid -r /run/ka-vrrp-$ns.pid \
		> "$LAB_OUT/keepalived-$ns.log" 2>&1 &
	eval "KA_$ns=\$!"
done
# Wait (up to 20 s) for left to become MASTER.
i=0
while [ ! -e "$LAB_OUT/left.master" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
ip -n left -4 addr show dev veth0 > "$LAB_OUT/left-addr.txt"
kill -TERM "$KA_left"
i=0
while [ ! -e "$LAB_OUT/right.master" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
ip -n right -4 addr show dev veth0 > "$LAB_OUT/right-addr.txt"
kill -TERM "$KA_right"
wait
exit 0
