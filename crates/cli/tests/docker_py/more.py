"""docker-py against berthd, beyond the core scenario: stats (one shot and
streamed), wait conditions, streamed logs, exec with demuxed streams,
top, update, pause, rename, kill, archives (put/get), healthchecks,
events, prune, df, volumes. Argument: the daemon's unix socket URL.
Exits non-zero (an AssertionError) at the first difference."""
import io
import sys
import tarfile
import time

import docker

client = docker.DockerClient(base_url=sys.argv[1], version="auto", timeout=60)
api = client.api


def until(pred, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


ct = client.containers.run(
    "busybox", ["sh", "-c", "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"],
    detach=True, name="pymore", mem_limit="64m",
)

# stats: one shot (two samples inside, so precpu is filled) and streamed.
s = ct.stats(stream=False)
assert s["id"] == ct.id, s.get("id")
assert s["name"] == "/pymore", s.get("name")
assert s["memory_stats"]["limit"] == 64 * 1024 * 1024, s["memory_stats"]
assert s["memory_stats"]["usage"] > 0, s["memory_stats"]
assert s["pids_stats"]["current"] >= 1, s["pids_stats"]
assert "cpu_usage" in s["cpu_stats"] and "system_cpu_usage" in s["cpu_stats"], s["cpu_stats"]
assert s["precpu_stats"]["cpu_usage"]["total_usage"] > 0, s["precpu_stats"]
stream = ct.stats(stream=True, decode=True)
first = next(stream)
second = next(stream)
assert first["read"] != second["read"], (first["read"], second["read"])
stream.close()

# logs: streamed and followed, with timestamps, tail.
lines = []
for chunk in ct.logs(stream=True, follow=True, timestamps=True):
    lines.append(chunk)
    if len(lines) >= 3:
        break
assert all(b" tick" in l and l[:4].isdigit() for l in lines), lines
assert ct.logs(tail=1).startswith(b"tick"), ct.logs(tail=1)

# exec: demuxed stdout/stderr, environment, workdir, user; exit code in
# exec inspect.
r = ct.exec_run(["sh", "-c", "echo out; echo err >&2; exit 5"], demux=True)
assert r.exit_code == 5 and r.output == (b"out\n", b"err\n"), r
r = ct.exec_run("pwd", workdir="/etc", user="nobody", environment={"X": "1"})
assert (r.exit_code, r.output) == (0, b"/etc\n"), r
eid = api.exec_create(ct.id, ["sh", "-c", "exit 9"])["Id"]
api.exec_start(eid)
until(lambda: api.exec_inspect(eid)["Running"] is False, "exec end")
assert api.exec_inspect(eid)["ExitCode"] == 9, api.exec_inspect(eid)

# top, update, pause/unpause, rename.
top = ct.top()
assert "Titles" in top and any("sleep" in " ".join(p) or "sh" in " ".join(p) for p in top["Processes"]), top
ct.update(mem_limit="32m", memswap_limit="64m")
ct.reload()
assert ct.attrs["HostConfig"]["Memory"] == 32 * 1024 * 1024, ct.attrs["HostConfig"]["Memory"]
ct.pause()
ct.reload()
assert ct.status == "paused", ct.status
ct.unpause()
ct.rename("pymore2")
ct.reload()
assert ct.name == "pymore2", ct.name

# archives: put a tar in, get it back.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"from docker-py\n"
    info = tarfile.TarInfo("dir/put.txt")
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
assert ct.put_archive("/tmp", buf.getvalue()) is True
assert ct.exec_run("cat /tmp/dir/put.txt").output == b"from docker-py\n"
bits, stat = ct.get_archive("/tmp/dir")
assert stat["name"] == "dir" and stat["mode"] & (1 << 31), stat
got = io.BytesIO(b"".join(bits))
with tarfile.open(fileobj=got) as t:
    names = t.getnames()
    assert "dir/put.txt" in names, names
    assert t.extractfile("dir/put.txt").read() == b"from docker-py\n"
try:
    ct.get_archive("/no/such")
    raise AssertionError("no NotFound for a missing path")
except docker.errors.NotFound:
    pass

# kill with a signal; wait returns the code; next-exit and removed.
ct.kill(signal="SIGKILL")
assert ct.wait(timeout=30)["StatusCode"] == 137
assert api.wait(ct.id, condition="not-running")["StatusCode"] == 137
ct.remove()

w = client.containers.create("busybox", ["sh", "-c", "exit 4"], name="pywait")
w.start()
assert w.wait(condition="not-running")["StatusCode"] == 4
w.remove()

# healthchecks through the SDK's healthcheck dict.
h = client.containers.run(
    "busybox", ["sleep", "1000"], detach=True, name="pyhealth",
    healthcheck={"test": ["CMD-SHELL", "echo ok"], "interval": 200_000_000, "retries": 1},
)
until(lambda: (h.reload() or h.attrs["State"].get("Health", {}).get("Status")) == "healthy",
      "healthy")
assert h.health == "healthy", h.health
h.remove(force=True)

# events: the lifecycle just run, filtered by container.
now = int(time.time()) + 1
evs = list(client.events(since=0, until=now, decode=True,
                         filters={"container": "pywait", "type": "container"}))
acts = [e["Action"] for e in evs]
assert acts[:2] == ["create", "start"] and "die" in acts and acts[-1] == "destroy", acts
assert all(e["Actor"]["Attributes"]["name"] == "pywait" for e in evs), evs

# prune and df.
client.containers.run("busybox", "true", name="pyprune")
pr = client.containers.prune()
assert len(pr["ContainersDeleted"]) == 1, pr
assert client.containers.list(all=True) == [], client.containers.list(all=True)
df = client.df()
assert len(df["Images"]) >= 1 and df["Containers"] == [], df

# volumes: create with a driver option, inspect, in use -> 409, prune.
v = client.volumes.create("pyvol2", driver="local", labels={"t": "more"})
assert client.volumes.get("pyvol2").attrs["Labels"] == {"t": "more"}
holder = client.containers.create("busybox", "true", volumes={"pyvol2": {"bind": "/v", "mode": "rw"}})
try:
    v.remove()
    raise AssertionError("removed a volume in use")
except docker.errors.APIError as e:
    assert e.status_code == 409, e.status_code
holder.remove()
anon = client.containers.run("busybox", "true", volumes=["/anon"], detach=True)
anon.wait()
anon.remove()
pruned = client.volumes.prune()
assert len(pruned["VolumesDeleted"]) == 1, pruned
v.remove()
assert client.volumes.list() == [], client.volumes.list()
print("docker-py more ok")
