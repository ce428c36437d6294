# shellcheck shell=bash
# Sourced by scripts/build.sh: fills the Go build cache while setup runs.
#
# On a fresh machine setup first installs libtorch (apt-get, about 90 s), then adapts gotch's Go
# side (seconds), then compiles libtch's C++ (one core, about 2 minutes). Only the packages that
# import gotch wait for the adapted copy; the others compile while apt-get runs, and the rest while
# the C++ archive compiles (it is needed only to link).

# warm LABEL DIR FLAGS SCOPE PATTERN...: compiles, without linking, every package PATTERN (in the
# module at DIR) depends on, with the build flags FLAGS ("" or e.g. "-race"). SCOPE names what to
# keep: "all", or a comma list of "nolib" (only the packages that do not depend on gotch: they
# compile before setup has adapted it) and "test" (with the packages only the tests import). Best effort: a failure only costs time later,
# so it is reported, not fatal.
warm() {
	local label=$1 dir=$2 flags=$3 scope=$4
	shift 4
	local pkgs rc=0 test=""
	[[ ",$scope," != *,test,* ]] || test=-test
	# Every package with its dependencies; keep those that build (no test variants, no commands: a
	# command would be linked) and, for nolib, that do not reach gotch.
	# The first list of a fresh machine also downloads the modules: it goes through progress too.
	pkgs=$(cd "$dir" && progress "$label: listing the packages" go list $flags $test -e -deps \
		-f '{{if and (not .Error) (or .GoFiles .CgoFiles) (ne .Name "main") (not .ForTest)}}{{.ImportPath}} {{join .Deps " "}}{{end}}' "$@" 2>/dev/null |
		awk -v nolib="$([[ ",$scope," != *,nolib,* ]] || echo 1)" '$1 !~ /\.test$/ && (nolib != 1 || $0 !~ /github\.com\/sugarme\/gotch/) { print $1 }' | sort -u) || rc=$?
	if [ "$rc" != 0 ] || [ -z "$pkgs" ]; then
		echo "$label: could not list the packages to compile ahead (skipped)"
		return 0
	fi
	echo "$label: compiling $(wc -w <<<"$pkgs") packages ${flags:+($flags) }ahead"
	# shellcheck disable=SC2086
	(cd "$dir" && progress "$label" go build $flags $pkgs) || echo "$label: stopped or failed (the build after setup does the rest)"
}

# gotch_adapted: whether .deps/gotch holds setup's adapted copy (setup writes the marker; a
# caller removes it from a stale copy before it runs setup).
gotch_adapted() {
	[ -f .deps/gotch/.coorlog-adapted ]
}
