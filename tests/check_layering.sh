#!/usr/bin/env bash
# The tree shows the design (docs/design.md "Layout"); this keeps it true. Fails
# when a file includes a header of a folder it must not see, or a program links a
# library that is not its own business.
#   lib/        includes nothing else of the project
#   fdm/core/   only itself, lib/ and the generated proto: decisions, no I/O
#   datastore/  only itself, lib/ and proto (nothing of fdm/)
#   hostd-shim/ only itself, lib/ and proto (nothing of fdm/ or datastore/)
set -u
cd "${FDM_SRC:-$(dirname "$0")/..}"

bad=0
# check DIR ALLOWED-PREFIX...: every project include of DIR/*.[ch] starts with
# one of the allowed prefixes. A project include is a quoted one.
check() {
	local dir=$1; shift
	local f line inc ok p
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -e "$f" ] || continue
		while IFS= read -r line; do
			inc=${line#*\"}; inc=${inc%%\"*}
			ok=0
			for p in "$@"; do
				case "$inc" in "$p"*) ok=1 ;; esac
			done
			if [ "$ok" = 0 ]; then
				echo "layering: $f includes \"$inc\" ($dir/ may include only: $*)"
				bad=1
			fi
		done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
	done
}

check lib        lib/
check fdm/core   fdm/core/ lib/ proto/
check datastore  datastore/ lib/ proto/
check hostd-shim hostd-shim/ lib/ proto/

# needs PROGRAM LIB...: the program must not link these libraries.
refuse() {
	local prog=$1; shift
	local bin="${FDM_BUILD:-build}/$prog" l
	[ -x "$bin" ] || { echo "layering: $bin not built, link check skipped"; return; }
	for l in "$@"; do
		if readelf -d "$bin" | grep -q "NEEDED.*\[$l"; then
			echo "layering: $prog links $l, which it has no use for"
			bad=1
		fi
	done
}

refuse fdm libvirt
refuse fdmctl libvirt
refuse fdm-inspect libvirt
refuse hostd-shim libnfs libiscsi libjson-c
refuse hostd-shim-cli libnfs libiscsi libvirt

if [ "$bad" = 0 ]; then
	echo "layering: lib/, fdm/core/, datastore/, hostd-shim/ include only what they may; programs link only their own libraries"
fi
exit "$bad"
