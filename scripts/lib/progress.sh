# shellcheck shell=bash
# Sourced by the scripts: progress for steps that can run for minutes without output.

# The ticker writes to the script's stderr as it was when this file was sourced, so that a
# redirection of the command's own output (2>log, >/dev/null) does not swallow it.
exec {PROGRESS_FD}>&2

# progress LABEL CMD [ARG...]: runs CMD and, while it runs, prints "LABEL: still running (Ns)"
# every PROGRESS_EVERY seconds (default 15), so no step is silent for more than that. Returns
# CMD's exit status.
#
# The ticker uses shell builtins only (no sleep or date processes): while dpkg unpacks libtorch
# and the compilers run, starting a process could take tens of seconds, and a ticker that forked
# left a 46 s silence in a fresh `make test`.
progress() {
	local label=$1 every=${PROGRESS_EVERY:-15}
	shift
	"$@" &
	local pid=$! start
	printf -v start '%(%s)T' -1
	(
		# A read that times out is the sleep: nothing ever writes to this pipe.
		exec {nap}<> <(:)
		while :; do
			read -r -t "$every" -u "$nap" _ || :
			kill -0 "$pid" 2>/dev/null || exit 0
			printf -v now '%(%s)T' -1
			printf '%s: still running (%ds)\n' "$label" $((now - start)) >&"$PROGRESS_FD"
		done
	) &
	local ticker=$! rc=0
	wait "$pid" || rc=$?
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	return "$rc"
}
