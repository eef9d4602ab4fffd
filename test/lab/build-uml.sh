#!/bin/sh
# xaev kernel lab: build the UML 6.12 kernel once and cache it outside the
# checkout.
#
#   test/lab/build-uml.sh path    print where the cached kernel is (or would be)
#   test/lab/build-uml.sh build   build it unless cached, then print its path
#
# Source: Debian's linux-source-6.12 (/usr/src/linux-source-6.12.tar.xz).
# Config: `make ARCH=um defconfig` + test/lab/uml-6.12.config.
# Cache:  ${XAEV_LAB_CACHE:-/var/cache/xaev-lab}/uml-6.12-<package version>-<hash>/linux,
#         <hash> covering the config fragment and RECIPE below, so a changed
#         fragment or a new source package builds a new kernel. Concurrent
#         callers wait for one build (flock). Needs: bc flex bison make gcc
#         xz-utils (installed by .ci/run). About 4 minutes on 2 cores.
set -eu

RECIPE=1 # bump when the build steps below change what is built
PKG=linux-source-6.12
TARBALL=/usr/src/linux-source-6.12.tar.xz
HERE=$(cd "$(dirname "$0")" && pwd)
FRAGMENT=$HERE/uml-6.12.config
CACHE=${XAEV_LAB_CACHE:-/var/cache/xaev-lab}

die() { echo "build-uml: $*" >&2; exit 1; }

pkg_version() {
	v=$(dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null) || v=
	[ -n "$v" ] || die "package $PKG is not installed: as root run \`apt-get install -y $PKG bc flex bison\`"
	# Debian versions contain ~ and +; keep the path to [A-Za-z0-9._-].
	printf '%s' "$v" | tr -c 'A-Za-z0-9._-' '_'
}

kernel_dir() {
	hash=$({ cat "$FRAGMENT"; echo "recipe $RECIPE"; } | sha256sum | cut -c1-12)
	echo "$CACHE/uml-6.12-$(pkg_version)-$hash"
}

# check_config CONFIG FRAGMENT: every setting of the fragment must have survived olddefconfig.
check_config() {
	bad=
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) grep -qx "$line" "$1" || bad="$bad ${line}(got: $(grep "^${line%%=*}=" "$1" || echo unset))" ;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }; sym=${sym%% *}
			! grep -q "^$sym=" "$1" || bad="$bad $sym(want unset)" ;;
		esac
	done < "$2"
	[ -z "$bad" ] || die "config fragment not applied:$bad"
}

build() {
	dir=$1
	[ -r "$TARBALL" ] || die "$TARBALL missing: as root run \`apt-get install -y $PKG\`"
	for tool in make gcc bc flex bison xz; do
		command -v "$tool" >/dev/null || die "$tool not found: as root run \`apt-get install -y build-essential bc flex bison xz-utils\`"
	done
	work=$CACHE/build.$$
	rm -rf "$work"
	mkdir -p "$work"
	trap 'rm -rf "$work"' EXIT
	log=$work/build.log
	echo "build-uml: building UML 6.12 into $dir (log: $log)" >&2
	started=$(date +%s)
	tar -xJf "$TARBALL" -C "$work"
	src=$work/linux-source-6.12
	hz=$(sed -n 's/^CONFIG_HZ=\([0-9]*\)$/\1/p' "$FRAGMENT")
	if [ -n "$hz" ]; then
		# arch/um/Kconfig: "config HZ / int / default 100", no prompt, so a .config value is ignored.
		perl -0pi -e "s/(config HZ\\n\\tint\\n\\tdefault )100\\n/\${1}$hz\\n/ or die 'HZ default not found'" "$src/arch/um/Kconfig"
	fi
	{
		make -C "$src" ARCH=um defconfig
		"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$FRAGMENT"
		make -C "$src" ARCH=um olddefconfig
	} > "$log" 2>&1 || { tail -20 "$log" >&2; die "configuring failed"; }
	check_config "$src/.config" "$FRAGMENT"
	make -C "$src" ARCH=um -j"$(nproc)" linux >> "$log" 2>&1 || { tail -30 "$log" >&2; die "make failed"; }
	out=$work/out
	mkdir -p "$out"
	cp "$src/linux" "$out/linux"
	cp "$src/.config" "$out/config"
	echo "built in $(( $(date +%s) - started )) s from $PKG $(dpkg-query -W -f='${Version}' "$PKG")" > "$out/build-info"
	"$out/linux" --version >> "$out/build-info" 2>/dev/null || true
	rm -rf "$dir"
	mv "$out" "$dir"
	cat "$dir/build-info" >&2
}

case ${1:-} in
path) kernel_dir ;;
build)
	dir=$(kernel_dir)
	if [ ! -x "$dir/linux" ]; then
		mkdir -p "$CACHE"
		exec 9> "$CACHE/.build.lock"
		flock 9
		# Another caller may have built it while we waited.
		[ -x "$dir/linux" ] || build "$dir"
	fi
	echo "$dir"
	;;
*) die "usage: $0 path|build" ;;
esac
