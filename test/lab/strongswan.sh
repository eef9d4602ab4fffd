# shellcheck shell=sh
# xaev kernel lab: strongSwan (Debian's strongswan-charon and strongswan-swanctl) inside lab
# network namespaces, one charon per namespace. Sourced by scenarios after topology.sh:
#   . "$LAB_DIR/strongswan.sh"
#
# Each node NODE has its own directory $LAB_IKE/NODE:
#   strongswan.conf  STRONGSWAN_CONF of its charon and of the swanctl that talks to it
#                    (lab_strongswan_conf writes it)
#   swanctl.conf     its connections and secrets (the scenario writes it;
#                    `lab_swanctl NODE --load-all --file "$LAB_IKE/NODE/swanctl.conf"`)
#   run/             bind-mounted over /run in the daemon's own mount namespace: charon's pid
#                    file /var/run/charon.pid is compiled in, so a second daemon would refuse to
#                    start (or remove the first one's)
#   vici             the daemon's vici socket, outside /run so that swanctl finds it
# charon logs to $LAB_OUT/charon-NODE.log, each line stamped with wall-clock seconds and
# milliseconds (the clock `date +%s.%N` and test/lab/ike-failover.pl use).
#
# Measured on the lab kernels with Debian's 5.9.8 (docs/sync-ike.md, "strongSwan in the lab"):
# - `load_modular = no` with an explicit `load` list: the packaged plugin set pulls in plugins
#   that need what the guest has not (updown runs iptables). IKE key derivation needs `kdf`
#   (5.9.8 moved prf+ there): without it every IKE_SA fails after IKE_SA_INIT.
# - No updown script and no routes of its own (install_routes = no): the scenario sets the routes.

LAB_IKE=${LAB_IKE:-/tmp/lab/ike}
LAB_CHARON=${LAB_CHARON:-/usr/lib/ipsec/charon}
# Plugins: key exchange, ciphers and PRFs from openssl; prf+ from kdf; XFRM; sockets; vici.
LAB_CHARON_PLUGINS=${LAB_CHARON_PLUGINS:-random nonce openssl kdf kernel-netlink socket-default vici}

# lab_strongswan_check: is strongSwan installed? (prints the fix when not)
lab_strongswan_check() {
	if [ ! -x "$LAB_CHARON" ] || ! command -v swanctl > /dev/null; then
		echo "strongSwan is not installed ($LAB_CHARON, swanctl): apt-get install strongswan-charon strongswan-swanctl" >&2
		return 1
	fi
}

# lab_strongswan_conf NODE: write $LAB_IKE/NODE/strongswan.conf.
lab_strongswan_conf() {
	_dir=$LAB_IKE/$1
	mkdir -p "$_dir/run"
	cat > "$_dir/strongswan.conf" <<-EOF
	charon {
	  load_modular = no
	  load = $LAB_CHARON_PLUGINS
	  install_routes = no
	  install_virtual_ip = no
	  plugins {
	    vici {
	      socket = unix://$_dir/vici
	    }
	  }
	  filelog {
	    lab {
	      path = $LAB_OUT/charon-$1.log
	      time_format = %s
	      time_add_ms = yes
	      flush_line = yes
	      default = 1
	      ike = 2
	      cfg = 2
	      knl = 2
	    }
	  }
	}
	swanctl {
	  load = random openssl
	}
	EOF
}

# lab_charon_start NODE: start charon in network namespace NODE, with a private /run; waits (up to
# 30 s) for its vici socket. Sets LAB_CHARON_PID (the daemon itself: `exec` all the way down).
lab_charon_start() {
	_dir=$LAB_IKE/$1
	rm -rf "$_dir/vici" "$_dir/run"
	mkdir -p "$_dir/run"
	lab__charon_exec "$1" > "$LAB_OUT/charon-$1.out" 2>&1 &
	LAB_CHARON_PID=$!
	_i=0
	until [ -S "$_dir/vici" ]; do
		_i=$((_i + 1))
		if [ $_i -gt 300 ] || ! kill -0 "$LAB_CHARON_PID" 2>/dev/null; then
			echo "charon in $1 did not open its vici socket: $(cat "$LAB_OUT/charon-$1.out")" >&2
			return 1
		fi
		sleep 0.1
	done
}

# lab__charon_exec NODE: (internal) become charon in NODE's network namespace and a new mount
# namespace with $LAB_IKE/NODE/run over /run.
lab__charon_exec() {
	_dir=$LAB_IKE/$1
	STRONGSWAN_CONF=$_dir/strongswan.conf exec ip netns exec "$1" unshare -m \
		sh -c 'mount --bind "$1" /run && exec "$2"' charon "$_dir/run" "$LAB_CHARON"
}

# lab_swanctl NODE ARGS...: swanctl against NODE's charon (its vici socket).
lab_swanctl() {
	_dir=$LAB_IKE/$1; shift
	STRONGSWAN_CONF=$_dir/strongswan.conf swanctl "$@" --uri "unix://$_dir/vici"
}
