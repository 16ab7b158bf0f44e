"""docker-py (the Docker SDK for Python) against berthd: run, logs, exec,
wait, stop, volumes, images. Argument: the daemon's unix socket URL.
Exits non-zero (an AssertionError) at the first difference."""
import sys
import time

import docker

client = docker.DockerClient(base_url=sys.argv[1], version="auto", timeout=60)
assert client.ping() is True
assert client.version()["ApiVersion"]
assert client.info()["OSType"] == "linux"
assert any("busybox:latest" in i.tags for i in client.images.list())
assert client.images.get("busybox").attrs["Config"]["Cmd"] == ["sh"]

out = client.containers.run("busybox", ["echo", "hello"], remove=True)
assert out == b"hello\n", out

try:
    client.containers.run("busybox", ["sh", "-c", "exit 7"], remove=True)
    raise AssertionError("a failing container raised nothing")
except docker.errors.ContainerError as e:
    assert e.exit_status == 7, e.exit_status

try:
    client.containers.get("nosuch")
    raise AssertionError("no NotFound")
except docker.errors.NotFound:
    pass

ct = client.containers.run(
    "busybox", ["sh", "-c", "echo log1; sleep 1000"], detach=True, name="py1",
    environment={"A": "b"}, labels={"k": "v"},
)
for _ in range(100):
    if ct.logs() == b"log1\n":
        break
    time.sleep(0.1)
assert ct.logs() == b"log1\n", ct.logs()
ct.reload()
assert ct.status == "running", ct.status
assert ct.labels == {"k": "v"}
assert client.containers.list(filters={"label": "k=v"})[0].id == ct.id
assert ct.attach(logs=True, stream=False) == b"log1\n"
r = ct.exec_run(["sh", "-c", "echo $A; exit 3"])
assert (r.exit_code, r.output) == (3, b"b\n"), r
ct.stop(timeout=1)
assert ct.wait()["StatusCode"] == 137
ct.remove()
assert client.containers.list(all=True) == []

vol = client.volumes.create("pyvol", labels={"x": "1"})
assert vol.attrs["Driver"] == "local"
spec = {"pyvol": {"bind": "/v", "mode": "rw"}}
client.containers.run("busybox", ["sh", "-c", "echo v > /v/f"], volumes=spec, remove=True)
out = client.containers.run("busybox", ["cat", "/v/f"], volumes=spec, remove=True)
assert out == b"v\n", out
assert [v.name for v in client.volumes.list(filters={"label": "x=1"})] == ["pyvol"]
vol.remove()
print("docker-py scenario ok")
