"""Cases for bench/hostile.sh: ordinary requests (the baseline) and the costliest hostile ones
found, each sent REPEATS times; one JSON line per case."""
import http.client
import json
import os
import statistics
import subprocess
import sys
import time

ADDR, CSRF, COOKIE, PID, LS, REPEATS, WORK = sys.argv[1:8]
REPEATS = int(REPEATS)
HOST, PORT = ADDR.rsplit(":", 1)
TICK = os.sysconf("SC_CLK_TCK")


def cpu_ms():
    with open(f"/proc/{PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def rss_mib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def send(method, path, body=None):
    c = http.client.HTTPConnection(HOST, int(PORT), timeout=600)
    headers = {"Cookie": f"lockstep_session={COOKIE}", "X-CSRF-Token": CSRF}
    if body is not None:
        headers["Content-Type"] = "application/json"
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def new_doc(name, disks, base_port=9000, host_b="10.0.0.2"):
    args = [LS, "new", "--name", name, "--uuid", "3f1c2a9e-6b1d-4c2e-9a57-0d7c1e5b8f21",
            "--base-port", str(base_port), "--primary", "10.0.0.1", "--secondary", host_b]
    for i in range(disks):
        args += ["--disk", f"/var/lib/colo/{name}-{i}.qcow2:10G:qcow2"]
    # `new` exits 1 when the document has errors (past 128 disks) but prints it all the same.
    out = subprocess.run(args, capture_output=True).stdout
    return json.loads(out)


counter = [0]


def case(name, make):
    """make() returns (method, path, body); the case is sent REPEATS times."""
    walls, statuses, sizes = [], set(), []
    cpu0 = cpu_ms()
    for _ in range(REPEATS):
        counter[0] += 1
        method, path, body = make(counter[0])
        t = time.perf_counter()
        status, data = send(method, path, body)
        walls.append((time.perf_counter() - t) * 1000)
        statuses.add(status)
        sizes.append(len(data))
    cpu = (cpu_ms() - cpu0) / REPEATS
    print(json.dumps({
        "case": name, "statuses": sorted(statuses),
        "request_bytes": len(body) if isinstance(body, (bytes, bytearray)) else len(json.dumps(body)) if body is not None else 0,
        "answer_bytes_max": max(sizes),
        "wall_ms_median": round(statistics.median(walls), 2), "wall_ms_max": round(max(walls), 2),
        "server_cpu_ms_per_request": round(cpu, 1), "server_rss_mib": round(rss_mib(), 1),
    }), flush=True)


one = new_doc("vm", 1)
d32 = new_doc("big", 32)
# The largest document under the 4 MiB body limit that the wizard shape gives (it has errors
# past 128 disks: PCI slots run out), and the largest renderable one (128 disks).
disks = 2000
dmax = new_doc("max", disks)
while len(json.dumps(dmax)) > (4 << 20) - 4096:
    disks = disks * 9 // 10
    dmax = new_doc("max", disks)
d128 = new_doc("r128", 128)

case("baseline GET /healthz", lambda n: ("GET", "/healthz", None))
case("baseline validate 1-disk", lambda n: ("POST", "/api/v1/validate", one))
case("baseline create 1-disk configuration", lambda n: (
    "POST", "/api/v1/teams/ops/configurations",
    {"name": f"c{n}", "document": dict(one, guest=dict(one["guest"], name=f"c{n}"))}))
case("validate 32 disks", lambda n: ("POST", "/api/v1/validate", d32))
case(f"validate {len(json.dumps(dmax)) >> 10} KiB document (with errors)", lambda n: ("POST", "/api/v1/validate", dmax))
case("render 128 disks", lambda n: ("POST", "/api/v1/render", d128))
case(f"create {len(json.dumps(dmax)) >> 10} KiB configuration (draft with errors)", lambda n: (
    "POST", "/api/v1/teams/ops/configurations",
    {"name": f"max{n}", "document": dict(dmax, guest=dict(dmax["guest"], name=f"max{n}"))}))
nul_tail = json.dumps({"name": "x", "document": dmax})[:-1] + ', "z": "\\u0000"}'
case("4 MiB body with a NUL at its end (guard)", lambda n: (
    "POST", "/api/v1/teams/ops/configurations", nul_tail.encode()))
case("4 MiB of nested arrays", lambda n: ("POST", "/api/v1/validate", b"[" * ((4 << 20) - 1)))
bomb = {"name": "bomb", "parameters": [{"name": "a", "type": "string", "default": "x" * 8192}],
        "body": {"guest": {"name": "${a}" * 8192}}}
case("template expansion bomb (192 MiB if expanded)", lambda n: ("POST", "/api/v1/teams/ops/templates", dict(bomb, name=f"b{n}")))
pattern = {"name": "p", "parameters": [{"name": "a", "type": "string", "default": "a" * 1000,
           "constraints": {"pattern": "(?:a{1,300}){1,300}"}}], "body": {"guest": {"name": "${a}"}}}
case("template with the walk's costly pattern", lambda n: ("POST", "/api/v1/teams/ops/templates", dict(pattern, name=f"p{n}")))
worst = "(?:(?:a*)*b?){1,10}.{1,50}"
params = [{"name": f"a{i}", "type": "string", "default": "a" * 1023 + "b", "constraints": {"pattern": worst}}
          for i in range(16)]
body = dict(one, guest=dict(one["guest"], name="".join(f"${{a{i}}}" for i in range(16))))
case("template with 16 of the costliest allowed patterns", lambda n: (
    "POST", "/api/v1/teams/ops/templates", {"name": f"w{n}", "parameters": params, "body": body}))
for i in range(20):
    d = new_doc(f"same{i}", 1, host_b="x" * 70000)
    d["nodes"] = [dict(x, path="/var/lib/colo/shared.img") if x.get("kind") == "image" and "disk" in x["id"] else x for x in d["nodes"]]
    send("POST", "/api/v1/teams/ops/configurations", {"name": f"same{i}", "document": d})
case("configuration colliding with 20 others on a 70,000-character host name", lambda n: (
    "POST", "/api/v1/teams/ops/configurations",
    {"name": f"coll{n}", "document": dict(d, guest=dict(d["guest"], name=f"coll{n}"))}))
case("audit page of 500 events", lambda n: ("GET", "/api/v1/audit?limit=500", None))
case("baseline create 1-disk configuration (again, at the end)", lambda n: (
    "POST", "/api/v1/teams/ops/configurations",
    {"name": f"e{n}", "document": dict(one, guest=dict(one["guest"], name=f"e{n}"))}))
