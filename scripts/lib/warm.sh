# shellcheck shell=bash
# Sourced by scripts/build.sh: fills the Go build cache while setup runs.
#
# On a fresh machine setup's slow parts (apt-get, compiling libtch's C++ on one core) leave a core
# free. warm compiles meanwhile, first every package that does not import gotch, then, once setup
# has put the adapted gotch in .deps/gotch (it compiles without the C++ archive, which only the
# link needs), the rest. After setup only the links are left.

# warm LABEL DIR FLAGS SCOPE PATTERN...: compiles (without linking) the packages PATTERN, in the
# module at DIR, depends on, with the build flags FLAGS ("" or e.g. "-race"). SCOPE "pure": only
# those that do not import gotch; "all": all of them. Best effort: a failure only costs time
# later, so it is reported, not fatal.
warm() {
	local label=$1 dir=$2 flags=$3 scope=$4
	shift 4
	local pkgs rc=0 skip='^$'
	[ "$scope" = all ] || skip='github\.com/sugarme/gotch'
	# Every package with its dependencies; keep those that build (no test-only packages) and are
	# not commands (a command would be linked).
	pkgs=$(cd "$dir" && go list $flags -e -deps -f '{{if and (not .Error) (or .GoFiles .CgoFiles)}}{{.Name}} {{.ImportPath}} {{join .Deps " "}}{{end}}' "$@" 2>/dev/null |
		awk -v skip="$skip" '$1 != "main" && $0 !~ skip { print $2 }') || rc=$?
	if [ "$rc" != 0 ] || [ -z "$pkgs" ]; then
		echo "$label: could not list the packages to compile ahead (skipped)"
		return 0
	fi
	echo "$label: compiling $(wc -w <<<"$pkgs") packages ${flags:+($flags) }while setup runs"
	# shellcheck disable=SC2086
	(cd "$dir" && progress "$label" go build $flags $pkgs) || echo "$label: failed (the build after setup does it)"
}

# gotch_adapted: whether .deps/gotch holds setup's adapted copy (its cgo flags link the archive).
gotch_adapted() {
	grep -qs libcoorlog_tch.a .deps/gotch/libtch/lib.go
}
