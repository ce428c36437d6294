# shellcheck shell=bash
# Sourced by scripts/build.sh: fills the Go build cache while setup runs.
#
# On a fresh machine setup's slow part, compiling libtch's C++, uses one core for about 90 s. It
# starts once setup has put the adapted gotch in .deps/gotch, and from then on every Go package
# compiles (the C++ archive is needed only to link). warm compiles them meanwhile, so that after
# setup only the links are left.

# warm LABEL DIR FLAGS PATTERN...: compiles, without linking, every package PATTERN (in the module
# at DIR) depends on, with the build flags FLAGS ("" or e.g. "-race"). Best effort: a failure only
# costs time later, so it is reported, not fatal.
warm() {
	local label=$1 dir=$2 flags=$3
	shift 3
	local pkgs rc=0
	# Every package with its dependencies; keep those that build (no test-only packages) and are
	# not commands (a command would be linked).
	pkgs=$(cd "$dir" && go list $flags -e -deps -f '{{if and (not .Error) (or .GoFiles .CgoFiles)}}{{.Name}} {{.ImportPath}}{{end}}' "$@" 2>/dev/null |
		awk '$1 != "main" { print $2 }') || rc=$?
	if [ "$rc" != 0 ] || [ -z "$pkgs" ]; then
		echo "$label: could not list the packages to compile ahead (skipped)"
		return 0
	fi
	echo "$label: compiling $(wc -w <<<"$pkgs") packages ${flags:+($flags) }ahead"
	# shellcheck disable=SC2086
	(cd "$dir" && progress "$label" go build $flags $pkgs) || echo "$label: failed (the build after setup does it)"
}

# gotch_adapted: whether .deps/gotch holds setup's adapted copy (setup writes the marker; a
# caller removes it from a stale copy before it runs setup).
gotch_adapted() {
	[ -f .deps/gotch/.coorlog-adapted ]
}
