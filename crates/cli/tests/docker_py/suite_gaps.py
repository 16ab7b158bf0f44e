"""docker-py against berthd: the behaviours docker-py's own integration
suite (tests/integration, run by scripts/docker-py-suite.sh) found
missing, checked here one by one. Argument: the daemon's unix socket URL.
Exits non-zero (an AssertionError) at the first difference."""
import io
import socket
import struct
import sys
import time

import docker

client = docker.DockerClient(base_url=sys.argv[1], version="auto", timeout=60)
api = client.api
IMG = "busybox"


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "socket closed after %r" % data
        data += chunk
    return data


def raw(sock):
    return getattr(sock, "_sock", sock)


# Swarm: a node outside a swarm answers 503, which `leave --force` takes
# as done (docker-py's tests call it in every tearDown).
assert api.leave_swarm(force=True) is True
try:
    api.inspect_swarm()
    raise AssertionError("inspect_swarm succeeded")
except docker.errors.APIError as e:
    assert e.status_code == 503, e
    assert "not part of a swarm" in str(e), e

# kill (SIGKILL) returns once the container has exited.
c = api.create_container(IMG, ["sleep", "9999"])
api.start(c)
api.kill(c)
st = api.inspect_container(c)["State"]
assert st["Running"] is False and st["ExitCode"] == 137, st
api.remove_container(c)  # no force: it is stopped

# A restart policy makes the container restarting from its exit on: rm
# without force right after wait refuses it.
c = api.create_container(IMG, ["sleep", "1"], host_config=api.create_host_config(
    restart_policy={"Name": "always", "MaximumRetryCount": 0}, network_mode="none"))
api.start(c)
api.wait(c)
try:
    api.remove_container(c)
    raise AssertionError("rm of a restarting container succeeded")
except docker.errors.APIError as e:
    assert "stop the container before" in str(e).lower(), e
api.remove_container(c, force=True)

# exec start without Tty is stdcopy-framed even for an exec with a pty.
c = api.create_container(IMG, "cat", detach=True, stdin_open=True)
api.start(c)
line = "yay, interactive exec!"
x = api.exec_create(c, ["printf", line], tty=True)
s = raw(api.exec_start(x, socket=True))
stream, size = struct.unpack(">BxxxL", read_exactly(s, 8))
assert (stream, size) == (1, len(line)), (stream, size)
assert read_exactly(s, size).decode() == line
s.close()
x = api.exec_create(c, 'sh -c "echo hello out; echo hello err >&2"', tty=True)
out = api.exec_start(x)
assert out == b"hello out\r\nhello err\r\n", out

# Detach keys: ctrl-p ctrl-q (default) or detachKeys end the attach, the
# container keeps running.
for keys, seq in [(None, b"\x10\x11"), ("ctrl-x", b"\x18")]:
    t = api.create_container(IMG, "cat", detach=True, stdin_open=True, tty=True)
    api.start(t)
    params = {"stdin": True, "stdout": True, "stream": True}
    if keys:
        params["detachKeys"] = keys
    s = raw(api.attach_socket(t, params))
    s.settimeout(10)
    s.sendall(b"abc")
    got = b""
    while b"abc" not in got:  # the tty echoes it: stdin flows
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    for b in seq:
        s.sendall(bytes([b]))
        time.sleep(0.2)
    while s.recv(4096):  # berthd closes the attach (a timeout fails)
        pass
    s.close()
    assert api.inspect_container(t)["State"]["Running"] is True
    api.remove_container(t, force=True)
# docker-py sends an exec's keys as `detachKeys` (Go decodes keys
# case-insensitively).
x = api.exec_create(c, "cat", stdin=True, tty=True, detach_keys="ctrl-x")
s = raw(api.exec_start(x, tty=True, socket=True))
s.sendall(b"\x18")
s.settimeout(10)
while s.recv(4096):
    pass
s.close()
try:
    api.attach_socket(c, {"stdin": True, "stream": True, "detachKeys": "ctrl-1"})
    raise AssertionError("bad detach keys accepted")
except docker.errors.APIError as e:
    assert e.status_code == 400 and "Invalid detach keys" in str(e), e
api.remove_container(c, force=True)

# Endpoint settings as dockerd shows them: what was asked (aliases,
# driver options, links, MAC address) and null for what was not.
net = client.networks.create("gapsnet")
c = api.create_container(
    IMG, "top",
    host_config=api.create_host_config(network_mode="gapsnet"),
    networking_config=api.create_networking_config({
        "gapsnet": api.create_endpoint_config(
            aliases=["hello"], driver_opt={"key1": "a"}, links=[("up", "bar")],
        ),
    }),
)
ep = api.inspect_container(c)["NetworkSettings"]["Networks"]["gapsnet"]
assert ep["Aliases"] == ["hello"], ep
assert ep["DriverOpts"] == {"key1": "a"}, ep
assert ep["Links"] == ["up:bar"], ep
assert "IPAMConfig" in ep and ep["IPAMConfig"] is None, ep
api.remove_container(c, force=True)
c = api.create_container(IMG, "top")
api.connect_container_to_network(c, "gapsnet", mac_address="02:42:ac:11:00:02")
ep = api.inspect_container(c)["NetworkSettings"]["Networks"]["gapsnet"]
assert ep["MacAddress"] == "02:42:ac:11:00:02", ep
api.disconnect_container_from_network(c, "gapsnet", force=True)
try:
    api.disconnect_container_from_network(c, "gapsnet", force=True)
    raise AssertionError("force-disconnect of a container not connected succeeded")
except docker.errors.APIError as e:
    assert "is not connected" in str(e), e
api.remove_container(c, force=True)
# the deprecated container-wide MacAddress goes to the primary endpoint
c = api.create_container(IMG, ["sleep", "60"], mac_address="02:42:ac:11:00:0a")
api.start(c)
ns = api.inspect_container(c)["NetworkSettings"]
assert ns["MacAddress"] == "02:42:ac:11:00:0a", ns
api.remove_container(c, force=True)
net.remove()

# A volume made without a name is anonymous: prune removes it.
v = api.create_volume()
assert "com.docker.volume.anonymous" in (v["Labels"] or {}), v
named = api.create_volume("gapsnamed")
res = api.prune_volumes()
assert v["Name"] in res["VolumesDeleted"], res
assert "gapsnamed" not in res["VolumesDeleted"], res
api.remove_volume("gapsnamed")

# Container prune reports the space the removed containers' layers held.
c1 = api.create_container(IMG, ["sh", "-c", "echo hello > /data.txt"])
c2 = api.create_container(IMG, ["sleep", "9999"])
api.start(c1)
api.start(c2)
api.wait(c1)
res = api.prune_containers()
assert c1["Id"] in res["ContainersDeleted"], res
assert c2["Id"] not in res["ContainersDeleted"], res
assert res["SpaceReclaimed"] > 0, res
api.remove_container(c2, force=True)

# diff shows the container's own changes, not the mount points start made.
ct = client.containers.run(IMG, "touch /test", detach=True)
ct.wait()
assert ct.diff() == [{"Path": "/test", "Kind": 1}], ct.diff()
ct.remove()

# A build's stream ends as dockerd's legacy builder's does: the aux ID
# message, then "Successfully built", then "Successfully tagged" (docker-py
# and its tests read the last message as the result).

msgs = list(
    api.build(
        fileobj=io.BytesIO(("FROM %s\nRUN true\n" % IMG).encode()),
        tag="gapsbuilt:1",
        decode=True,
        rm=True,
    )
)
streams = [m.get("stream", "") for m in msgs]
assert "Successfully tagged gapsbuilt:1" in streams[-1], msgs
assert streams[-2].startswith("Successfully built "), msgs
aux = [i for i, m in enumerate(msgs) if "aux" in m]
assert aux and aux[0] == len(msgs) - 3, msgs
api.remove_image("gapsbuilt:1")

# A network created without IPAM options shows them as null, as dockerd;
# a name with a space is a name.
ipam = docker.types.IPAMConfig(
    pool_configs=[docker.types.IPAMPool(subnet="10.63.0.0/24", gateway="10.63.0.254")]
)
net = api.create_network("gaps ipam", ipam=ipam)
info = api.inspect_network("gaps ipam")
assert info["IPAM"]["Options"] is None, info["IPAM"]
assert info["IPAM"]["Config"] == [{"Subnet": "10.63.0.0/24", "Gateway": "10.63.0.254"}], info
api.remove_network("gaps ipam")

# commit: each `changes` value is an instruction, and the new image's
# Parent is the container's image.
cid = api.create_container(IMG, ["touch", "/test"])
api.start(cid)
api.wait(cid)
res = api.commit(cid, changes=["EXPOSE 8000", 'CMD ["bash"]'])
img = api.inspect_image(res["Id"])
assert "8000/tcp" in img["Config"]["ExposedPorts"], img["Config"]
assert img["Config"]["Cmd"] == ["bash"], img["Config"]
assert img["Parent"] == api.inspect_image(IMG)["Id"], img.get("Parent")
assert api.inspect_image(IMG)["Parent"] == "", "a loaded image has no parent"
api.remove_container(cid)
api.remove_image(res["Id"])

print("docker-py suite gaps ok")
