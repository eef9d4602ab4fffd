#!/bin/sh
# xaev kernel lab: PID 1 inside a user-mode-linux (UML) guest.
#
# Booted by test/lab/lab.ts (runInLab) roughly as
#   linux.uml mem=512M rootfstype=hostfs rootflags=/ ro init=<this file> \
#     con=null con0=fd:0,fd:1 umid=... uml_dir=... \
#     LAB_OUT=/host/out/dir LAB_SCENARIO=/host/out/dir/scenario.sh LAB_TIMEOUT=50
# The kernel hands unknown KEY=VALUE command-line words to init as environment
# variables (values cannot contain spaces). Anything else (arbitrary values) is
# read from $LAB_OUT/lab-env.sh, which runInLab writes before booting.
#
# The root file system is the host's / (hostfs, read-only). $LAB_OUT is the
# only host directory mounted writable; the scenario writes its results there.
#
# Contract with the host:
#   $LAB_OUT/exit-status   exit status of the scenario (124 = LAB_TIMEOUT hit)
#   $LAB_OUT/scenario.log  stdout+stderr of the scenario (also copied to the console)
#   $LAB_OUT/timings.txt   guest uptime at boot milestones
#   $LAB_OUT/dmesg.txt     kernel log at the end
#   $LAB_OUT/modprobe.log  arguments of every modprobe call (incl. kernel autoload)
# init must never exit (the kernel panics when PID 1 dies), so everything runs
# in child processes and we always end in lab_poweroff.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
HOME=/tmp
TERM=dumb
LANG=C.UTF-8
# UML up to 6.12 switches a guest thread's FPU state only up to the AVX upper halves
# (test/lab/uml-xstate.c): guest programs stay off the AVX-512 registers, which glibc's string
# functions and OpenSSL would otherwise use on such CPUs, and which threads sharing an address
# space would then see change under them.
GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD
OPENSSL_ia32cap='~0x0:~0xc0030000'
export PATH HOME TERM LANG GLIBC_TUNABLES OPENSSL_ia32cap

say() { echo "LAB: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

lab_poweroff() {
	sync
	umount "$LAB_OUT" 2>/dev/null
	sync
	# `poweroff -f` (systemctl) calls reboot(2) directly when systemd is not
	# running; it prints "Failed to write wtmp record" (ro root) and then works.
	poweroff -f >/dev/null 2>&1
	halt -f >/dev/null 2>&1
	echo 1 > /proc/sys/kernel/sysrq 2>/dev/null
	echo o > /proc/sysrq-trigger 2>/dev/null
	# Never return: PID 1 exiting panics the kernel.
	while :; do sleep 1; done
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# CONFIG_DEVTMPFS_MOUNT=y mounts /dev before init runs; mount it only if missing.
grep -q ' /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
# On Debian /var/run -> /run; only a real directory needs its own tmpfs.
[ -L /var/run ] || mount -t tmpfs -o mode=755 tmpfs /var/run
mkdir -p /run/netns /run/lab /tmp/lab
T_INIT=$(uptime_s)

# --- results directory (host folder via hostfs) -------------------------------
if [ -z "$LAB_OUT" ]; then
	say "LAB_OUT not set on the kernel command line; nowhere to write results"
	lab_poweroff
fi
HOST_OUT=$LAB_OUT
# Mount at the same path as on the host when possible: below /tmp the
# mountpoint lives on our tmpfs; elsewhere it must already exist on the host
# (the hostfs root is read-only, so mkdir fails there).
if ! { mkdir -p "$LAB_OUT" 2>/dev/null && mount -t hostfs none "$LAB_OUT" -o "$HOST_OUT"; }; then
	LAB_OUT=/run/lab/out
	mkdir -p "$LAB_OUT"
	if ! mount -t hostfs none "$LAB_OUT" -o "$HOST_OUT"; then
		say "cannot mount host directory $HOST_OUT"
		lab_poweroff
	fi
fi
export LAB_OUT
# Host-written environment (arbitrary values, quoted for sh).
# shellcheck disable=SC1091
[ -f "$LAB_OUT/lab-env.sh" ] && . "$LAB_OUT/lab-env.sh"
# lab-env.sh may carry the host path of the out dir; the guest path wins.
LAB_OUT_HOST=$HOST_OUT
export LAB_OUT LAB_OUT_HOST

# --- the repository -------------------------------------------------------------
# A checkout under /tmp or /run (CI may clone there) is hidden by the tmpfs mounted
# above: mount it again from the host, read-only, at the same path.
if [ -n "${LAB_REPO:-}" ] && [ ! -e "$LAB_REPO/package.json" ]; then
	mkdir -p "$LAB_REPO" && mount -t hostfs -o ro none "$LAB_REPO" -o "$LAB_REPO" 2>/dev/null ||
		mount -t hostfs none "$LAB_REPO" -o "$LAB_REPO" ||
		say "cannot mount the repository $LAB_REPO from the host"
fi

# --- kernel modules -----------------------------------------------------------
# LAB_UML_MODULES=none (set by runInLab for uml-6.12): everything is built in
# and the kernel has no module support, so there is nothing to load.
UML_MODULES=${LAB_UML_MODULES:-/usr/lib/uml/modules}
: > /run/lab/modprobe.log
if [ "$UML_MODULES" != none ]; then
	# The UML modules live in /usr/lib/uml/modules/<uname -r>/, not in
	# /lib/modules, so build a tiny module root on tmpfs for `modprobe -d`
	# (kmod looks in DIR/lib/modules/<uname -r>) and make the kernel's
	# request_module() (crypto-*, net-pf-*, sch_* autoload) use a wrapper.
	MODROOT=/run/lab/modroot
	MODPROBE_BIN=$(command -v modprobe || echo /sbin/modprobe)
	mkdir -p "$MODROOT/lib"
	ln -s "$UML_MODULES" "$MODROOT/lib/modules"
	# The kernel runs the helper with a minimal environment, so log unconditionally.
	cat > /run/lab/modprobe <<EOF
#!/bin/sh
echo "\$*" >> /run/lab/modprobe.log
exec $MODPROBE_BIN -d $MODROOT "\$@"
EOF
	chmod 755 /run/lab/modprobe
	echo /run/lab/modprobe > /proc/sys/kernel/modprobe
	# Let scenarios call `modprobe x` with the right module root as well.
	mkdir -p /run/lab/bin
	ln -s /run/lab/modprobe /run/lab/bin/modprobe
	PATH=/run/lab/bin:$PATH
	export PATH

	# ipv6 is a module in this kernel (CONFIG_IPV6=m); load it before any netns or
	# veth exists so every namespace gets IPv6. `configs` provides /proc/config.gz.
	LAB_MODULES_BASE="ipv6 xfrm_user esp4 esp6 ah4 ah6 xfrm4_tunnel xfrm6_tunnel veth authenc hmac ecb configs"
	# shellcheck disable=SC2086
	if ! modprobe -a $LAB_MODULES_BASE ${LAB_MODULES:-} 2>/tmp/lab/modprobe.err; then
		say "modprobe failed: $(cat /tmp/lab/modprobe.err)"
	fi
fi
ip link set lo up
T_MODULES=$(uptime_s)

# --- scenario -----------------------------------------------------------------
{
	echo "init $T_INIT"
	echo "modules $T_MODULES"
} > "$LAB_OUT/timings.txt"

if [ -z "$LAB_SCENARIO" ] || [ ! -f "$LAB_SCENARIO" ]; then
	say "scenario '$LAB_SCENARIO' not found"
	echo 127 > "$LAB_OUT/exit-status"
	lab_poweroff
fi
export LAB_SCENARIO
say "uname -r $(uname -r), init at ${T_INIT}s, modules at ${T_MODULES}s, running $LAB_SCENARIO"

# The scenario's output goes to scenario.log and (via tee) to the console.
# A fifo instead of a plain pipe: background jobs left behind by the scenario
# (e.g. `ip xfrm monitor ... &`) keep the write end open, so tee would never
# see EOF; we kill them after the scenario and then wait for tee.
mkfifo /run/lab/console.fifo
tee "$LAB_OUT/scenario.log" < /run/lab/console.fifo &
TEE_PID=$!

(
	cd /tmp || exit 1
	if [ -x "$LAB_SCENARIO" ]; then
		exec timeout -k 2 "${LAB_TIMEOUT:-50}" "$LAB_SCENARIO"
	else
		exec timeout -k 2 "${LAB_TIMEOUT:-50}" /bin/sh "$LAB_SCENARIO"
	fi
) > /run/lab/console.fifo 2>&1 < /dev/null
STATUS=$?
T_DONE=$(uptime_s)
echo "$STATUS" > "$LAB_OUT/exit-status"
echo "scenario-done $T_DONE" >> "$LAB_OUT/timings.txt"

# Kill whatever the scenario left running (except tee); kernel threads ignore
# signals, so no need to filter them out.
lab_kill_leftovers() {
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = 1 ] && continue
		[ "$pid" = "$TEE_PID" ] && continue
		kill "-$1" "$pid" 2>/dev/null
	done
}
lab_kill_leftovers TERM
sleep 0.2
lab_kill_leftovers KILL
wait "$TEE_PID" 2>/dev/null

dmesg > "$LAB_OUT/dmesg.txt" 2>&1
# Every module request (ours and the kernel's request_module() calls).
cat /run/lab/modprobe.log > "$LAB_OUT/modprobe.log" 2>/dev/null
say "scenario exit status $STATUS at ${T_DONE}s"
lab_poweroff
