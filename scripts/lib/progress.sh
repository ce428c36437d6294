# shellcheck shell=bash
# Sourced by the scripts: progress for steps that can run for minutes without output.

# The ticker writes to the script's stderr as it was when this file was sourced, so that a
# redirection of the command's own output (2>log, >/dev/null) does not swallow it.
exec {PROGRESS_FD}>&2

# progress LABEL CMD [ARG...]: runs CMD and, while it runs, prints "LABEL: still running (Ns)"
# every PROGRESS_EVERY seconds (default 20), so no step is silent for more than that. Returns
# CMD's exit status.
progress() {
	local label=$1 every=${PROGRESS_EVERY:-20}
	shift
	"$@" &
	local pid=$! start
	start=$(date +%s)
	(
		# Stop the pending sleep too: it would hold a pipe on stderr open after the step.
		trap 'kill "$nap" 2>/dev/null; exit 0' TERM
		while :; do
			sleep "$every" &
			nap=$!
			wait "$nap"
			kill -0 "$pid" 2>/dev/null || exit 0
			printf '%s: still running (%ds)\n' "$label" $(($(date +%s) - start)) >&"$PROGRESS_FD"
		done
	) &
	local ticker=$! rc=0
	wait "$pid" || rc=$?
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	return "$rc"
}
