#!/bin/sh
# One attach and/or detach of the existing container netns /run/netns/NS,
# timed as a whole by bench/cni.sh. Runs in the sandbox host's netns.
#   cni-pair.sh cni PLUGIN CONF NS [both|add|del]
#       CNI ADD and/or DEL of plugin executable PLUGIN, config CONF on stdin
#   cni-pair.sh nv OPTS NS [both|add|del]
#       netavark setup and/or teardown with network options OPTS
#       (config dir $NV_CONFIG)
# The container id is fixed per netns, so an ADD here and a DEL in another
# call (hyperfine --prepare) name the same attachment.
set -e
tool=$1
case $tool in
cni) plugin=$2 conf=$3 ns=$4 what=${5:-both} ;;
nv) opts=$2 ns=$3 what=${4:-both} ;;
*) echo "usage: cni-pair.sh cni PLUGIN CONF NS [both|add|del] | nv OPTS NS [both|add|del]" >&2; exit 2 ;;
esac
export CNI_CONTAINERID="bench-$ns" CNI_IFNAME=eth0 CNI_NETNS="/run/netns/$ns"
step() {
    if [ "$tool" = cni ]; then
        CNI_COMMAND=$1 "$plugin" <"$conf" >/dev/null
    elif [ "$1" = ADD ]; then
        /usr/lib/podman/netavark --config "$NV_CONFIG" -f "$opts" setup "$CNI_NETNS" >/dev/null
    else
        /usr/lib/podman/netavark --config "$NV_CONFIG" -f "$opts" teardown "$CNI_NETNS" >/dev/null
    fi
}
case $what in
both) step ADD; step DEL ;;
add) step ADD ;;
del) step DEL ;;
*) echo "cni-pair.sh: unknown step $what" >&2; exit 2 ;;
esac
