#!/bin/sh
# Runs an OpenWrt procd init script's start_service and service_triggers
# outside OpenWrt, printing what it asks procd to do:
#
#   UCI_DATA (shell lines from the Go test: _sec/_opt/_list)
#        │  config_load, config_get, config_get_bool, config_foreach
#        ▼     (the semantics of /lib/functions.sh)
#   INIT (the script under test) ──procd_*──► stdout, one line per call
#
# Usage: UCI_DATA=FILE INIT=SCRIPT sh procd-harness.sh
# mkdir is stubbed too: the script must not touch the host.
set -u

CONFIG_SECTIONS=""

_sec() { # type name
	CONFIG_SECTIONS="$CONFIG_SECTIONS $2"
	eval "CONFIG_${2}_TYPE=\$1"
}
_opt() { # section option value
	eval "CONFIG_${1}_${2}=\$3"
}
_list() { # section option value: lists read back space-separated
	eval "_v=\${CONFIG_${1}_${2}-}"
	if [ -n "$_v" ]; then
		eval "CONFIG_${1}_${2}=\"\$_v \$3\""
	else
		eval "CONFIG_${1}_${2}=\$3"
	fi
}

config_load() {
	echo "config_load $1"
	# shellcheck source=/dev/null
	. "$UCI_DATA"
}
config_get() { # var section option [default]
	eval "_v=\${CONFIG_${2}_${3}-}"
	[ -n "$_v" ] || _v="${4-}"
	eval "$1=\$_v"
}
config_get_bool() { # var section option [default]
	config_get _b "$2" "$3" "${4-}"
	case "$_b" in
	1 | on | true | yes | enabled) _b=1 ;;
	0 | off | false | no | disabled) _b=0 ;;
	*) _b="${4-}" ;;
	esac
	eval "$1=\$_b"
}
config_foreach() { # function type [args...]
	_fn="$1"
	_type="$2"
	shift 2
	for _s in $CONFIG_SECTIONS; do
		eval "_t=\$CONFIG_${_s}_TYPE"
		# shellcheck disable=SC2154 # set by the eval above
		[ "$_t" = "$_type" ] && "$_fn" "$_s" "$@"
	done
	return 0
}

procd_open_instance() { echo "instance $1"; }
procd_set_param() { echo "  $*"; }
procd_close_instance() { echo "end"; }
procd_add_reload_trigger() { echo "reload_trigger $*"; }
mkdir() { echo "mkdir $*"; }

# shellcheck source=/dev/null
. "$INIT"
start_service
echo "start_service returned $?"
service_triggers
