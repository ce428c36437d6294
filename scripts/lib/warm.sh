# shellcheck shell=bash
# Sourced by the scripts that build: fills the Go build cache while setup runs.
#
# On a fresh machine the slow parts of setup (apt-get, compiling libtch's C++) use one core or
# none, and the Go packages they gate (gotch and what imports it) are a small share of the build.
# warm compiles all the others meanwhile, so that the build after setup only has gotch, the
# project's libtorch packages and the link left.

# warm LABEL DIR FLAGS PATTERN...: compiles (without linking) every package that PATTERN, in the
# module at DIR, depends on and that does not import gotch, with the build flags FLAGS ("" or
# e.g. "-race"). Best effort: a failure only costs time later, so it is reported, not fatal.
warm() {
	local label=$1 dir=$2 flags=$3
	shift 3
	local pkgs rc=0
	# Every package with its dependencies; keep those that build (no test-only packages), are not
	# gotch and do not import it, and are not commands (a command would be linked).
	pkgs=$(cd "$dir" && go list $flags -e -deps -f '{{if and (not .Error) (or .GoFiles .CgoFiles)}}{{.Name}} {{.ImportPath}} {{join .Deps " "}}{{end}}' "$@" 2>/dev/null |
		awk '$1 != "main" && $0 !~ /github\.com\/sugarme\/gotch/ { print $2 }') || rc=$?
	if [ "$rc" != 0 ] || [ -z "$pkgs" ]; then
		echo "$label: could not list the packages to compile ahead (skipped)"
		return 0
	fi
	echo "$label: compiling $(wc -w <<<"$pkgs") packages that do not need libtorch ${flags:+($flags) }while setup runs"
	# shellcheck disable=SC2086
	(cd "$dir" && progress "$label" go build $flags $pkgs) || echo "$label: failed (the build after setup does it)"
}
