"""`cosmos doctor`'s checks of what fails runs that the older checks missed (issue 15): the
GPU runtime, a writable remote_root, the Hugging Face token, free VRAM for each served model,
and the image digest against the setup manifest. Each miss says the exact command that fixes
it; the token's value is never read back (only whether it is there)."""

from __future__ import annotations

import posixpath

from backend.config import HostConfig
from backend.hosts.doctor_report import FAIL, OK, WARN, Check, last_line
from backend.hosts.telemetry import GPU_FIELDS, parse_gpu_csv
from backend.remote.shell import Shell

TOOLKIT_FIX = ("install the NVIDIA Container Toolkit on the box: sudo apt-get install -y "
               "nvidia-container-toolkit && sudo nvidia-ctk runtime configure --runtime=docker "
               "&& sudo systemctl restart docker")


def check_gpu_runtime(host: HostConfig, shell: Shell) -> Check:
    """A tiny `docker run --gpus` of the host's image: what a run's launch does first."""
    if not host.docker_gpus:
        return Check("gpu_runtime", OK, "not asked: docker_gpus = false (runs get no --gpus)")
    if host.simulated:
        return Check("gpu_runtime", OK, "not needed: the simulator's GPUs need no runtime")
    docker = " ".join(host.docker)
    argv = [*host.docker, "run", "--rm", "--pull", "never", "--gpus", "all", "--network", "none",
            "--entrypoint", "nvidia-smi", host.image, "-L"]
    result = shell.run(argv, timeout=120)
    text = (result.err + result.out).lower()
    if result.ok:
        gpus = [line for line in result.out.splitlines() if line.startswith("GPU ")]
        return Check("gpu_runtime", OK, f"`docker run --gpus all` sees {len(gpus)} GPU(s)",
                     details={"gpus": len(gpus)})
    if "no such image" in text or "unable to find image" in text:
        return Check("gpu_runtime", WARN, f"cannot probe the GPU runtime: {host.image} is not "
                     "on the box", f"cosmos setup {host.name}")
    if "could not select device driver" in text or "unknown or invalid runtime" in text \
            or "nvidia-container-cli" in text:
        return Check("gpu_runtime", FAIL, "the engine cannot give containers GPUs (runs ask "
                     f"for --gpus and fail at launch): {last_line(result)}",
                     TOOLKIT_FIX + f"; or set docker_gpus = false in [hosts.{host.name}] if "
                     "the engine exposes GPUs another way")
    return Check("gpu_runtime", FAIL, f"`{docker} run --gpus all ... nvidia-smi -L` failed: "
                 f"{last_line(result)}", TOOLKIT_FIX)


def check_root(host: HostConfig, shell: Shell) -> Check:
    """remote_root exists (or can be made) and the SSH user may write there."""
    root, who = host.remote_root, host.user or "the SSH user"
    fix = (f"on the box: sudo mkdir -p {root} && sudo chown {who} {root}; or set remote_root "
           f"in [hosts.{host.name}] to a folder {who} owns")
    made = shell.run(["mkdir", "-p", "--", root], timeout=30)
    if not made.ok:
        return Check("remote_root", FAIL, f"{root} does not exist and cannot be created: "
                     f"{last_line(made)}", fix, details={"path": root})
    probe = posixpath.join(root, ".cosmos-doctor-write-test")
    touched = shell.run(["touch", "--", probe], timeout=30)
    shell.run(["rm", "-f", "--", probe], timeout=30)
    if not touched.ok:
        return Check("remote_root", FAIL, f"{root} is not writable by {who}: "
                     f"{last_line(touched)}", fix, details={"path": root})
    return Check("remote_root", OK, f"{root} exists and is writable", details={"path": root})


def check_hf_token(host: HostConfig, shell: Shell) -> Check:
    """The Hugging Face token is on the box (a token file, or HF_TOKEN in the environment),
    without ever reading its value back."""
    token_path = f"/home/{host.user or 'USER'}/.config/cosmos/hf_token"
    fix = (f"on the box: (umask 077; mkdir -p {posixpath.dirname(token_path)}; cat > "
           f"{token_path}) and paste the token, then set hf_token_file = \"{token_path}\" in "
           f"[hosts.{host.name}] (or export HF_TOKEN in the SSH user's environment)")
    if host.simulated and not host.hf_token_file:
        return Check("hf_token", OK, "not needed: the simulator downloads nothing")
    if host.hf_token_file:
        result = shell.run(["test", "-s", host.hf_token_file], timeout=30)
        if result.ok:
            return Check("hf_token", OK, f"token file {host.hf_token_file} is there "
                         "(its value is not read)", details={"source": "file"})
        return Check("hf_token", FAIL, f"hf_token_file {host.hf_token_file} is missing or "
                     "empty", fix, details={"source": "file"})
    # a fixed script, no user text: is the variable set in the SSH session's environment?
    result = shell.run(["sh", "-c", 'test -n "$HF_TOKEN"'], timeout=30)
    if result.ok:
        return Check("hf_token", OK, "HF_TOKEN is set in the box's environment (its value is "
                     "not read)", details={"source": "env"})
    return Check("hf_token", WARN, "no Hugging Face token on the box: `cosmos setup` cannot "
                 "download gated checkpoints (Llama-Guard-3-8B) and a run cannot fetch what is "
                 "missing", fix, details={"source": None})


def check_vram(host: HostConfig, shell: Shell) -> Check:
    """Each configured GPU's memory against what every served model needs on one GPU."""
    from backend.models.profile import get_profile

    needs = {m: get_profile(m).vram_gb for m in host.models if get_profile(m).vram_gb}
    if not needs:
        return Check("vram", OK, "no served model states its VRAM need")
    result = shell.run([*host.gpu_query, f"--query-gpu={GPU_FIELDS}",
                        "--format=csv,noheader,nounits"], timeout=30)
    gpus = [g for g in parse_gpu_csv(result.out) if g["index"] in host.gpus] if result.ok else []
    if not gpus:
        return Check("vram", WARN, "cannot read GPU memory: "
                     + (last_line(result) if not result.ok else "no configured GPU answered"),
                     "see the gpus check")
    small, busy = [], []
    for model, need in needs.items():
        for gpu in gpus:
            total = (gpu["memory_total"] or 0) / 1024
            free = total - (gpu["memory_used"] or 0) / 1024
            if total < need:
                small.append(f"GPU {gpu['index']} has {total:.0f} GB, {model} needs {need:g}")
            elif free < need:
                busy.append(f"GPU {gpu['index']} has {free:.0f} GB free now, {model} needs "
                            f"{need:g}")
    if small:
        return Check("vram", FAIL, "; ".join(small), f"set gpus in [hosts.{host.name}] to GPUs "
                     "that hold the model, or serve a smaller model there (models = [...])")
    if busy:
        return Check("vram", WARN, "; ".join(busy), "free the GPUs (`nvidia-smi` shows who "
                     "uses them) or runs will fail with out-of-memory")
    return Check("vram", OK, f"every configured GPU has the free memory {', '.join(needs)} "
                 "needs")


def check_manifests(host: HostConfig, shell: Shell,
                    docker: list[str] | None = None) -> list[Check]:
    """Per served model: the image on the box is the one its setup manifest recorded
    (`docker`: how to reach the engine, when not the box's own: a cluster's nodes)."""
    from backend.hosts.setup_steps import image_digest, read_box_manifest

    checks = []
    for model in host.models:
        name = "manifest" if model == host.models[0] else f"manifest ({model})"
        doc = read_box_manifest(host, shell, model)
        image = host.for_model(model).image
        if doc is None:
            checks.append(Check(name, WARN, f"no setup manifest for {model}: runs cannot record "
                                "which checkpoints they used", f"cosmos setup {host.name} "
                                f"--model {model}"))
            continue
        digest = image_digest(host, shell, image, docker)
        if digest != doc.get("image_digest"):
            checks.append(Check(name, FAIL, f"{image} on the box is {digest or 'missing'}, not "
                                f"the {doc.get('image_digest')} setup recorded (manifest "
                                f"{doc['id']}): runs would not reproduce",
                                f"cosmos setup {host.name} --model {model} (or restore the "
                                "image that was set up)", details={"manifest": doc["id"]}))
            continue
        checks.append(Check(name, OK, f"manifest {doc['id']}: {image} {digest}, "
                            f"{len(doc.get('checkpoints') or [])} checkpoint file(s)",
                            details={"manifest": doc["id"], "image_digest": digest}))
    return checks
