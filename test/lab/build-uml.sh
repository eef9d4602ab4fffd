#!/bin/sh
# xaev kernel lab: build a UML kernel from Debian's source once and cache it outside the
# checkout (docs/lab.md, "The kernels built from source").
#
#   test/lab/build-uml.sh path KERNEL     print where the cached kernel is (or would be);
#                                         exits 1 when it cannot say (no source yet)
#   test/lab/build-uml.sh source KERNEL   make the source tarball available (root: apt), print its path
#   test/lab/build-uml.sh build KERNEL    source, then build unless cached; print the kernel's directory
#
# KERNEL is 6.12 or 7.3:
#   6.12  Debian's linux-source-6.12 (/usr/src/linux-source-6.12.tar.xz), installed with apt.
#   7.3   Debian's linux-source-7.3 from trixie-backports, fetched with a private apt
#         configuration (the machine's own package sources are not touched) and unpacked into
#         the cache: $CACHE/linux-source-7.3_<version>.tar.xz.
# Config: `make ARCH=um defconfig` + test/lab/uml.config (+ test/lab/uml-KERNEL.config).
# Cache:  ${XAEV_LAB_CACHE:-/var/cache/xaev-lab}/uml-KERNEL-<source version>-<hash>/linux,
#         <hash> covering the fragments' settings and RECIPE below, so a changed fragment or
#         a new source package builds a new kernel. Concurrent callers wait for one build
#         (flock). Needs: make gcc bc flex bison xz-utils (test/lab/provision.ts installs them).
set -eu

RECIPE=1 # bump when the build steps below change what is built
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${XAEV_LAB_CACHE:-/var/cache/xaev-lab}
BACKPORTS='deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main'

die() { echo "build-uml: $*" >&2; exit 1; }

usage() { die "usage: $0 path|source|build 6.12|7.3"; }

[ $# -eq 2 ] || usage
ACTION=$1
KERNEL=$2
case $KERNEL in
6.12 | 7.3) ;;
*) usage ;;
esac
PKG=linux-source-$KERNEL
FRAGMENTS=$HERE/uml.config
[ ! -f "$HERE/uml-$KERNEL.config" ] || FRAGMENTS="$FRAGMENTS $HERE/uml-$KERNEL.config"

# Debian versions contain ~ and +; paths keep [A-Za-z0-9._-].
path_safe() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }

# The source package's version, or nothing when the source is not there yet.
source_version() {
	case $KERNEL in
	6.12) dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null || true ;;
	7.3) cat "$CACHE/$PKG.version" 2>/dev/null || true ;;
	esac
}

tarball() {
	case $KERNEL in
	6.12) echo "/usr/src/$PKG.tar.xz" ;;
	7.3) echo "$CACHE/${PKG}_$(path_safe "$(source_version)").tar.xz" ;;
	esac
}

kernel_dir() {
	v=$(source_version)
	if [ -z "$v" ]; then
		case $KERNEL in
		6.12) die "package $PKG is not installed: as root run \`apt-get install -y $PKG\` (npm test does it)" ;;
		7.3) die "$PKG has not been fetched into $CACHE yet: as root run \`sh test/lab/build-uml.sh build 7.3\` (npm test does it)" ;;
		esac
	fi
	# Only the settings count: a reworded comment or a setting moved between fragments does not build a new kernel.
	# shellcheck disable=SC2086
	hash=$({ grep -h -E '^(CONFIG_|# CONFIG_.* is not set)' $FRAGMENTS | LC_ALL=C sort; echo "recipe $RECIPE"; } | sha256sum | cut -c1-12)
	echo "$CACHE/uml-$KERNEL-$(path_safe "$v")-$hash"
}

# apt-get / apt-cache with a private configuration under $CACHE naming only trixie-backports.
apt_backports() {
	tool=$1
	shift
	state=$CACHE/apt-trixie-backports
	mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
	echo "$BACKPORTS" > "$state/sources.list"
	"$tool" -q -o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$state/lists" -o Dir::Cache="$state/cache" -o APT::Sandbox::User=root "$@"
}

fetch_backport_source() {
	command -v apt-get >/dev/null || die "apt-get not found: fetch $PKG from Debian's trixie-backports by other means"
	mkdir -p "$CACHE"
	apt_backports apt-get update > "$CACHE/apt-trixie-backports.log" 2>&1 || { tail -5 "$CACHE/apt-trixie-backports.log" >&2; die "apt-get update of trixie-backports failed"; }
	version=$(apt_backports apt-cache policy "$PKG" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	[ -n "$version" ] && [ "$version" != "(none)" ] || die "trixie-backports has no $PKG"
	work=$CACHE/fetch.$$
	rm -rf "$work"
	mkdir -p "$work"
	(cd "$work" && apt_backports apt-get download "$PKG=$version") >> "$CACHE/apt-trixie-backports.log" 2>&1 ||
		{ rm -rf "$work"; tail -5 "$CACHE/apt-trixie-backports.log" >&2; die "downloading $PKG $version failed"; }
	dpkg-deb --fsys-tarfile "$work"/*.deb | tar -xO "./usr/src/$PKG.tar.xz" > "$work/source.tar.xz" ||
		{ rm -rf "$work"; die "$PKG $version holds no usr/src/$PKG.tar.xz"; }
	mv "$work/source.tar.xz" "$CACHE/${PKG}_$(path_safe "$version").tar.xz"
	rm -rf "$work"
	printf '%s\n' "$version" > "$CACHE/$PKG.version"
	echo "build-uml: fetched $PKG $version from trixie-backports" >&2
}

# Print the source tarball, fetching it first where that is ours to do.
ensure_source() {
	if [ "$KERNEL" = 7.3 ] && [ ! -r "$(tarball)" ]; then
		[ "$(id -u)" = 0 ] || die "$PKG is not in $CACHE: fetching it needs root"
		mkdir -p "$CACHE"
		exec 8> "$CACHE/.fetch.lock"
		flock 8
		[ -r "$(tarball)" ] || fetch_backport_source
	fi
	[ -r "$(tarball)" ] || die "$(tarball) missing: as root run \`apt-get install -y $PKG\`"
	tarball
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
	[ -z "$bad" ] || die "config fragment $(basename "$2") not applied:$bad"
}

build() {
	dir=$1
	source=$2
	for tool in make gcc bc flex bison xz perl; do
		command -v "$tool" >/dev/null || die "$tool not found: as root run \`apt-get install -y build-essential bc flex bison xz-utils\`"
	done
	work=$CACHE/build.$$
	rm -rf "$work"
	mkdir -p "$work"
	trap 'rm -rf "$work"' EXIT
	log=$work/build.log
	echo "build-uml: building UML $KERNEL into $dir" >&2
	started=$(date +%s)
	tar -xJf "$source" -C "$work"
	src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -1)
	[ -n "$src" ] || die "$source holds no linux-source-* directory"
	# shellcheck disable=SC2086
	hz=$(sed -n 's/^CONFIG_HZ=\([0-9]*\)$/\1/p' $FRAGMENTS | tail -1)
	if [ -n "$hz" ]; then
		# arch/um/Kconfig: "config HZ / int / default 100", no prompt, so a .config value is ignored.
		perl -0pi -e "s/(config HZ\\n\\tint\\n\\tdefault )100\\n/\${1}$hz\\n/ or die 'HZ default not found'" "$src/arch/um/Kconfig"
	fi
	{
		make -C "$src" ARCH=um defconfig
		# shellcheck disable=SC2086
		"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" $FRAGMENTS
		make -C "$src" ARCH=um olddefconfig
	} > "$log" 2>&1 || { tail -20 "$log" >&2; die "configuring failed"; }
	for fragment in $FRAGMENTS; do check_config "$src/.config" "$fragment"; done
	make -C "$src" ARCH=um -j"$(nproc)" linux >> "$log" 2>&1 || { tail -30 "$log" >&2; die "make failed"; }
	out=$work/out
	mkdir -p "$out"
	cp "$src/linux" "$out/linux"
	cp "$src/.config" "$out/config"
	echo "built in $(( $(date +%s) - started )) s from $PKG $(source_version)" > "$out/build-info"
	"$out/linux" --version >> "$out/build-info" 2>/dev/null || true
	rm -rf "$dir"
	mv "$out" "$dir"
	cat "$dir/build-info" >&2
}

case $ACTION in
path) kernel_dir ;;
source) ensure_source ;;
build)
	source=$(ensure_source)
	dir=$(kernel_dir)
	if [ ! -x "$dir/linux" ]; then
		mkdir -p "$CACHE"
		exec 9> "$CACHE/.build.lock"
		flock 9
		# Another caller may have built it while we waited.
		[ -x "$dir/linux" ] || build "$dir" "$source"
	fi
	echo "$dir"
	;;
*) usage ;;
esac
