#!/usr/bin/env bash
# Image benchmarks: berth vs podman (load + unpack of a ~125 MB 4-layer
# docker-archive, storage on tmpfs; a rebuild of a 4-step Dockerfile on it
# with a warm cache) and berth vs skopeo (push and pull of it through
# Debian's docker-registry on 127.0.0.1), side by side in one run.
# usage: sudo bench/image.sh        (RUNS=10 WARMUP=1 by default)
#
# The image is made here from the host's files: busybox plus three layers of
# /usr/lib/python3.11, /usr/lib/python3 and /usr/share/perl (tar'd with fixed
# owners and mtimes). Every timed run starts from an empty store / registry
# (hyperfine --prepare, untimed).
# Not like for like: skopeo's pull copies blobs to a directory without
# unpacking them, berth's pull also unpacks every layer (more work for berth);
# skopeo's push gzips the plain layers of a docker-archive (as docker push
# does), berth pushes blobs as stored (less work for berth).
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-1}
need busybox-static hyperfine jq docker-registry skopeo podman
build_berth
in_sandbox "$0" "$@"

work=$(mktemp -d /run/berth-bench-img.XXXXXX)   # /run is the sandbox's tmpfs
# podman's and skopeo's caches (/var/lib/containers) stay in this sandbox.
mount -t tmpfs berth-bench-varlib /var/lib
# Under set -e a failing last command of an && list ends the trap, and
# the script, with its status: the registry is often gone already (killed
# at the end and reaped), so its kill must not decide the exit code.
trap 'if [ -f "$work/reg.pid" ]; then kill "$(cat "$work/reg.pid")" 2>/dev/null || true; fi; rm -rf "$work" || true' EXIT
img=$work/img.tar

# --- the image: a docker-archive built by hand ------------------------------
build=$work/build && mkdir -p "$build"
layer() { # layer N DIR... : tar of the given host paths (relative to /)
    local n=$1; shift
    tar -C / --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -cf "$build/l$n.tar" "$@"
}
mkdir -p "$build/root/bin" && cp /bin/busybox "$build/root/bin/" && ln -s busybox "$build/root/bin/sh"
tar -C "$build/root" --sort=name --mtime=@1700000000 --owner=0 --group=0 -cf "$build/l0.tar" .
layer 1 usr/lib/python3.11
layer 2 usr/lib/python3
layer 3 usr/share/perl
diffs=() names=()
for n in 0 1 2 3; do
    d=$(sha256sum "$build/l$n.tar" | cut -d' ' -f1)
    mkdir -p "$build/$d" && mv "$build/l$n.tar" "$build/$d/layer.tar"
    diffs+=("\"sha256:$d\""); names+=("\"$d/layer.tar\"")
done
# One history entry per layer: buildah (podman build) refuses an image
# whose history and layers disagree.
hist='{"created_by":"bench layer"}'
cfg=$(printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[%s,%s,%s,%s]}' "$(IFS=,; echo "${diffs[*]}")" "$hist" "$hist" "$hist" "$hist")
cid=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
printf '%s' "$cfg" >"$build/$cid.json"
printf '[{"Config":"%s.json","RepoTags":["bench/img:1"],"Layers":[%s]}]' "$cid" "$(IFS=,; echo "${names[*]}")" >"$build/manifest.json"
tar -C "$build" -cf "$img" manifest.json "$cid.json" $(for n in "${names[@]}"; do echo "${n//\"/}"; done)
rm -rf "$build"
echo "image: $(du -m "$img" | cut -f1) MB, 4 layers"

# --- load + unpack ------------------------------------------------------------
export BERTH_IMAGE_ROOT=$work/berth
PREPARE=("rm -rf $work/berth" "rm -rf $work/podman $work/podman-run")
compare "load + unpack ($(du -m "$img" | cut -f1) MB docker-archive, tmpfs)" \
    "berth load" "$BERTH load -q -i $img" \
    "podman load" "podman --root $work/podman --runroot $work/podman-run --storage-driver overlay load -q -i $img"

# --- rebuild with a warm cache ------------------------------------------------
# Every step a cache hit: what is measured is the builder's own cost (parse,
# context digests, cache lookups, writing the image), not RUN. podman build
# (buildah, --layers, runc) on the same image in its own store, network none.
ctx=$work/ctx && mkdir -p "$ctx"
head -c 4M /dev/urandom >"$ctx/data.bin"
printf 'FROM bench/img:1\nCOPY data.bin /data/\nRUN echo built > /built.txt\nCMD ["cat", "/built.txt"]\n' >"$ctx/Dockerfile"
"$BERTH" load -q -i "$img"
"$BERTH" build -q "$ctx" >/dev/null
# crun refuses this machine's hybrid cgroup layout; runc takes it.
pod="podman --root $work/podman --runroot $work/podman-run --storage-driver overlay --runtime runc"
rm -rf "$work/podman" "$work/podman-run"
$pod load -q -i "$img" >/dev/null
PREPARE=()
if $pod build -q --network none --layers -t bench/rebuilt "$ctx" >/dev/null 2>"$work/podman-build.err"; then
    compare "rebuild, warm cache (4 steps, all cache hits)" \
        "berth build" "$BERTH build -q $ctx" \
        "podman build" "$pod build -q --network none --layers $ctx"
    echo "  (podman: $($pod build --network none --layers "$ctx" 2>&1 | grep -c 'Using cache') of 3 steps after FROM from its cache)"
else
    echo "podman build failed here ($(tail -1 "$work/podman-build.err")): berth alone" >&2
    compare "rebuild, warm cache (4 steps, all cache hits)" "berth build" "$BERTH build -q $ctx"
fi
echo "  (berth: $("$BERTH" build "$ctx" | grep -c 'Using cache') of 3 steps after FROM from its cache)"

# --- push and pull through a local registry -----------------------------------
cat >"$work/reg.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:5000
log:
  level: error
YML
cat >"$work/restart-registry" <<SH
#!/bin/bash
# untimed: a fresh, empty registry for every run
[ -f $work/reg.pid ] && kill \$(cat $work/reg.pid) 2>/dev/null && while kill -0 \$(cat $work/reg.pid) 2>/dev/null; do sleep 0.01; done
rm -rf $work/registry
docker-registry serve $work/reg.yml >/dev/null 2>&1 &
echo \$! >$work/reg.pid
until (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null; do sleep 0.01; done
SH
chmod +x "$work/restart-registry"
"$BERTH" load -q -i "$img"
"$BERTH" tag bench/img:1 127.0.0.1:5000/bench/img:1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy
sk="skopeo --insecure-policy"
PREPARE=("$work/restart-registry" "$work/restart-registry")
compare "push (empty registry)" \
    "berth push" "$BERTH push -q 127.0.0.1:5000/bench/img:1" \
    "skopeo copy docker-archive:" "$sk copy -q --dest-tls-verify=false docker-archive:$img docker://127.0.0.1:5000/bench/img:1"
"$work/restart-registry"
"$BERTH" push -q 127.0.0.1:5000/bench/img:1 >/dev/null
PREPARE=("rm -rf $work/pull-root" "rm -rf $work/skopeo-dir")
compare "pull (berth also unpacks)" \
    "berth pull" "env BERTH_IMAGE_ROOT=$work/pull-root $BERTH pull -q 127.0.0.1:5000/bench/img:1" \
    "skopeo copy to dir:" "$sk copy -q --src-tls-verify=false docker://127.0.0.1:5000/bench/img:1 dir:$work/skopeo-dir"
kill "$(cat "$work/reg.pid")" 2>/dev/null || true
