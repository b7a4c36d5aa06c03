#!/usr/bin/python3
"""A kubelet's calls over the CRI, for tests/cri.rs: one pod with one container, from
RunPodSandbox to RemovePodSandbox. Prints one JSON object per call on stdout, then exits
0; the Rust test checks the answers and what is left on the host.

Usage: client.py SOCKET WORKDIR PARAMS_JSON
Needs Debian's python3-grpcio, python3-protobuf and protobuf-compiler (protoc); the
messages come from cri.proto beside this file, compiled into WORKDIR at start.
"""

import json
import os
import subprocess
import sys

sock, work, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
here = os.path.dirname(os.path.abspath(__file__))
subprocess.run(
    ["protoc", f"--proto_path={here}", f"--python_out={work}", "cri.proto"], check=True
)
sys.path.insert(0, work)

import grpc  # noqa: E402
import cri_pb2 as pb  # noqa: E402

channel = grpc.insecure_channel(f"unix://{sock}")


def call(method, req, resp_type, timeout=60):
    """A unary call of runtime.v1.RuntimeService, as generated stubs would make it."""
    fn = channel.unary_unary(
        f"/runtime.v1.RuntimeService/{method}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=resp_type.FromString,
    )
    return fn(req, timeout=timeout)


def emit(step, **kv):
    print(json.dumps({"step": step, **kv}), flush=True)


v = call("Version", pb.VersionRequest(version="v1"), pb.VersionResponse)
emit("Version", runtime=v.runtime_name, api=v.runtime_api_version)

sandbox = pb.PodSandboxConfig(
    metadata=pb.PodSandboxMetadata(
        name=params["pod"], uid=params["pod"] + "-uid", namespace="default", attempt=0
    ),
    hostname=params["pod"],
    log_directory=params["log_dir"],
    linux=pb.LinuxPodSandboxConfig(cgroup_parent=params["cgroup_parent"]),
)
pod = call(
    "RunPodSandbox", pb.RunPodSandboxRequest(config=sandbox), pb.RunPodSandboxResponse
).pod_sandbox_id
emit("RunPodSandbox", id=pod)
st = call(
    "PodSandboxStatus",
    pb.PodSandboxStatusRequest(pod_sandbox_id=pod),
    pb.PodSandboxStatusResponse,
).status
emit("PodSandboxStatus", state=st.state, ip=st.network.ip)

cfg = pb.ContainerConfig(
    metadata=pb.ContainerMetadata(name="box", attempt=0),
    image=pb.ImageSpec(image=params["image"]),
    command=["sleep", "300"],
    log_path="box.log",
    linux=pb.LinuxContainerConfig(
        resources=pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20)
    ),
)
ctr = call(
    "CreateContainer",
    pb.CreateContainerRequest(pod_sandbox_id=pod, config=cfg, sandbox_config=sandbox),
    pb.CreateContainerResponse,
).container_id
emit("CreateContainer", id=ctr)
call("StartContainer", pb.StartContainerRequest(container_id=ctr), pb.StartContainerResponse)
st = call(
    "ContainerStatus", pb.ContainerStatusRequest(container_id=ctr), pb.ContainerStatusResponse
).status
emit("StartContainer", state=st.state)

r = call(
    "ExecSync",
    pb.ExecSyncRequest(
        container_id=ctr,
        cmd=["sh", "-c", "echo out; hostname; echo err >&2; exit 7"],
        timeout=30,
    ),
    pb.ExecSyncResponse,
)
emit("ExecSync", stdout=r.stdout.decode(), stderr=r.stderr.decode(), exit_code=r.exit_code)

s = call(
    "ContainerStats", pb.ContainerStatsRequest(container_id=ctr), pb.ContainerStatsResponse
).stats
emit(
    "ContainerStats",
    cpu_ns=s.cpu.usage_core_nano_seconds.value,
    working_set=s.memory.working_set_bytes.value,
)

call(
    "UpdateContainerResources",
    pb.UpdateContainerResourcesRequest(
        container_id=ctr,
        linux=pb.LinuxContainerResources(
            memory_limit_in_bytes=128 << 20, cpu_quota=20000, cpu_period=100000
        ),
    ),
    pb.UpdateContainerResourcesResponse,
)
# containerd's cgroupfs driver puts the container at CGROUP_PARENT/ID (v2, or v1 per controller).
rel = params["cgroup_parent"].strip("/") + "/" + ctr
limit = None
for f in [f"/sys/fs/cgroup/{rel}/memory.max", f"/sys/fs/cgroup/memory/{rel}/memory.limit_in_bytes"]:
    if os.path.exists(f):
        limit = open(f).read().strip()
emit("UpdateContainerResources", id=ctr, memory_limit=limit)

call(
    "StopContainer",
    pb.StopContainerRequest(container_id=ctr, timeout=2),
    pb.StopContainerResponse,
)
st = call(
    "ContainerStatus", pb.ContainerStatusRequest(container_id=ctr), pb.ContainerStatusResponse
).status
emit("StopContainer", state=st.state, exit_code=st.exit_code, reason=st.reason)
call("RemoveContainer", pb.RemoveContainerRequest(container_id=ctr), pb.RemoveContainerResponse)
emit("RemoveContainer", id=ctr)
call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod), pb.StopPodSandboxResponse)
emit("StopPodSandbox", id=pod)
call(
    "RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod), pb.RemovePodSandboxResponse
)
emit("RemovePodSandbox", id=pod)
