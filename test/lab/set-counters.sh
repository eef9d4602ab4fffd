#!/bin/sh
# Lab scenario for test/lab-set-counters.test.ts (the issue 8 items that need a VALID SA): `set --seq`
# moves the replay bitmap as the kernel does, `--bitmap` writes it exactly, and a batch runs
# each line in the namespace its -n names. Raw outputs go to $LAB_OUT; the host test asserts.
set -u
. "$LAB_DIR/topology.sh"

# run NAME ARGS...: xaev ARGS with stdout, stderr and status in $LAB_OUT/NAME.{out,err,status}.
run() {
	_name=$1; shift
	xaev "$@" > "$LAB_OUT/$_name.out" 2> "$LAB_OUT/$_name.err"
	echo "$?" > "$LAB_OUT/$_name.status"
}
# lines NAME: the batch file $LAB_OUT/NAME.batch from stdin.
lines() { cat > "$LAB_OUT/$1.batch"; }
# stats NAME: inbound replay statistics of the right namespace.
stats() {
	ip -n right -s xfrm state > "$LAB_OUT/$1-ip-right.txt" 2>&1
	ip netns exec right cat /proc/net/xfrm_stat > "$LAB_OUT/$1-xfrm-stat-right.txt" 2>&1
}

step "topology and SAs"
lab_net
lab_sa_pair family=4 proto=esp spi_out=0x1000 spi_in=0x1001 reqid=1 window=32 dport=5001
lab_sa_pair family=4 proto=esp spi_out=0x2000 spi_in=0x2001 reqid=2 window=128 esn dport=5002
lab_sa_pair family=4 proto=esp spi_out=0x3000 spi_in=0x3001 reqid=3 window=100 esn dport=5003
lab_sa_pair family=4 proto=esp spi_out=0x4000 spi_in=0x4001 reqid=4 window=16 dport=5004

step "40 packets on the legacy and the ESN pair"
lab_send left --to 192.0.2.2:5001 --to 192.0.2.2:5002 --port 5001 --count 40 --interval-ms 5
stats p40

step "one batch from the root namespace: the receiver's window to 100 (right), the sender to 90 (left)"
lines seq100 <<-EOF
	-n right set 0x1000 --seq 100
	-n left set 0x1000 --oseq 90
	-n right set 0x2000 --seq 100
	-n left set 0x2000 --oseq 90
	-n right get 0x1000
	-n left get 0x1000
EOF
run seq100 -j batch "$LAB_OUT/seq100.batch"
lab_send left --to 192.0.2.2:5001 --to 192.0.2.2:5002 --port 5001 --count 10 --interval-ms 5
stats after91
lines after91 <<-EOF
	-n right get 0x1000
	-n right get 0x2000
EOF
run after91 -j batch "$LAB_OUT/after91.batch"

step "ESN across seq-hi: receiver to 0x1_00000005, sender to 0x1_00000000"
lines seqhi <<-EOF
	-n right set 0x2000 --seq-hi 1 --seq 5
	-n left set 0x2000 --oseq-hi 1 --oseq 0
EOF
run seqhi -j batch "$LAB_OUT/seqhi.batch"
lab_send left --to 192.0.2.2:5002 --port 5001 --count 5 --interval-ms 5
stats afterhi
lines afterhi <<-EOF
	-n right get 0x2000
EOF
run afterhi -j batch "$LAB_OUT/afterhi.batch"

step "replays: the sender goes back to 95 and resends 96..100, first against the bitmap, then after --bitmap none"
lines back95 <<-EOF
	-n left set 0x1000 --oseq 95 --force
EOF
run back95 -j batch "$LAB_OUT/back95.batch"
lab_send left --to 192.0.2.2:5001 --port 5001 --count 5 --interval-ms 5
stats replayed
lines cleared <<-EOF
	-n right set 0x1000 --bitmap none
	-n left set 0x1000 --oseq 95 --force
EOF
run cleared -j batch "$LAB_OUT/cleared.batch"
lab_send left --to 192.0.2.2:5001 --port 5001 --count 5 --interval-ms 5
stats reaccepted
lines reaccepted <<-EOF
	-n right get 0x1000
EOF
run reaccepted -j batch "$LAB_OUT/reaccepted.batch"

step "--bitmap read back exactly"
lines bitmaps <<-EOF
	-n right set 0x3000 --bitmap 0x1,0x80000000,0xdeadbeef,0xf
	-n right set 0x3000 --bitmap all
	-n right set 0x3000 --seq 1000 --bitmap 0xffffffff,0,0,0x8
	-n right set 0x3000 --bitmap none
	-n right set 0x4000 --bitmap 0xbeef
	-n right set 0x4000 --bitmap all
	-n right set 0x1000 --seq 200 --bitmap 0x80000001
EOF
run bitmaps -j batch "$LAB_OUT/bitmaps.batch"

step "--bitmap refused: wrong word count, bits beyond the window; nothing written"
lines refused <<-EOF
	-n right set 0x3000 --bitmap 1,2,3
	-n right set 0x3000 --bitmap 0,0,0,0x10
	-n right set 0x4000 --bitmap 0x10000
	-n right set 0x1000 --bitmap 1,2
	-n right get 0x3000
	-n right get 0x4000
EOF
run refused -j batch --force "$LAB_OUT/refused.batch"
step "done"
