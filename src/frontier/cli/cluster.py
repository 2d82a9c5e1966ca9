"""`frontier cluster up | deploy | status | down`: Frontier on a Ray Serve cluster (the `cluster` extra).

`up` starts a Ray head on this machine (other machines join it with `ray start --address HEAD:PORT`), `deploy`
runs the Serve application (`frontier.cluster.app:build`) with its HTTP proxy on MISTRAL_HOST:PORT, `status`
shows the application's deployments and replicas, `down` removes the application and stops Ray here."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

import typer
from rich.console import Console

from frontier.cli.settings import settings_or_exit

app = typer.Typer(no_args_is_help=True, help="Frontier on a Ray Serve cluster (pip install 'frontier[cluster]').")
out, err = Console(), Console(stderr=True)
APP_NAME = "frontier"
# Settings the engine replicas need wherever Ray starts them: passed in the application's runtime env.
_PASSED_ON = ("MISTRAL_", "FRONTIER_", "HF_", "ENABLE_")


def _ray_env(loopback: bool = True) -> None:
    """Ray as this command needs it, for itself and the processes it starts:
    - token authentication on (Ray's default for a new cluster; a client must be told to use the token too),
    - with `loopback`, 127.0.0.1 kept as it is (Ray otherwise rewrites a loopback address to the machine's own,
      which a head listening on loopback does not answer). The same switch makes a head refuse other nodes, so
      a head on a LAN address goes without it."""
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    if loopback:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


# How fast the head's control store declares a machine dead (Ray's defaults: a check every 3 s, 10 s deadline, 5
# failures: 15 s for a refused connection, over 60 s for one that goes unanswered). Until then requests for that
# machine's replicas wait; after it, they go to live ones. Read by the head's GCS at start.
# Also: Serve gives a new HTTP proxy 3 x 5 s to be ready, then kills it and starts over; on a busy 2-core machine
# its imports alone took longer, and `deploy` failed after 60 s of that.
_HEAD_ENV = {"RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "2000",
                "RAY_health_check_failure_threshold": "5", "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "30"}


def _ray() -> str:
    path = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
    if not os.path.exists(path):
        err.print("[red]error[/red]: Ray is not installed: pip install 'frontier[cluster]'")
        raise typer.Exit(2)
    return path


@app.command("up")
def up(
    port: int = typer.Option(6379, help="The head's GCS port (other machines join at HEAD:PORT)."),
    cpus: int = typer.Option(0, help="CPUs Ray may schedule here [default: every core]."),
    host: str = typer.Option("127.0.0.1", help="Address the head listens on (a LAN address to take workers)."),
) -> None:
    """Start a Ray head on this machine."""
    _ray_env(loopback=host in ("127.0.0.1", "localhost"))
    for name, value in _HEAD_ENV.items():
        os.environ.setdefault(name, value)
    _ensure_token()
    command = [_ray(), "start", "--head", "--port", str(port), "--node-ip-address", host,
               "--include-dashboard", "false", "--disable-usage-stats"]
    if cpus:
        command += ["--num-cpus", str(cpus)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        err.print(f"[red]error[/red]: ray start failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        raise typer.Exit(1)
    out.print(f"Ray head on {host}:{port}; add a machine with: ray start --address {host}:{port}")


def _ensure_token() -> None:
    """Token authentication needs a token before the head starts; a new machine has none. Ray makes one
    (~/.ray/auth_token) unless RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH gives it; every machine joining needs it."""
    if os.environ.get("RAY_AUTH_MODE") != "token":
        return
    made = subprocess.run([_ray(), "get-auth-token", "--generate"], capture_output=True, text=True)
    if made.returncode != 0:
        err.print(f"[red]error[/red]: no Ray authentication token could be made:\n{made.stderr[-2000:]}")
        raise typer.Exit(1)
    if "Generating" in made.stderr:
        out.print("made Ray's cluster token, ~/.ray/auth_token: machines that join need the same file "
                  "(or RAY_AUTH_TOKEN)")


@app.command("deploy")
def deploy(
    replicas: int = typer.Option(2, help="Engine replicas (each loads its own engine)."),
    threads: int = typer.Option(1, help="CPUs per engine replica (its llama.cpp threads)."),
    autoscale_max: int = typer.Option(0, help="Above --replicas: autoscale on ongoing requests up to this many."),
    upscale_delay: float = typer.Option(10.0, help="Seconds of high load before autoscaling adds a replica."),
    downscale_delay: float = typer.Option(600.0, help="Seconds of low load before autoscaling removes one."),
    port: int = typer.Option(8000, help="Port of Serve's HTTP proxy (every API: OpenAI, Anthropic, Ollama ...)."),
    address: str = typer.Option("auto", help="The Ray cluster to deploy on."),
) -> None:
    """Deploy (or update) the Frontier application on the running cluster."""
    settings = settings_or_exit()
    _ray_env()
    import ray
    from ray import serve

    from frontier.cluster.app import build

    env = {k: v for k, v in os.environ.items() if k.startswith(_PASSED_ON)}
    ray.init(address=address, runtime_env={"env_vars": env}, logging_level=logging.WARNING, log_to_driver=False)
    serve.start(http_options={"host": settings.mistral_host, "port": port})
    serve.run(build({"replicas": replicas, "threads": threads, "autoscale_max": autoscale_max,
                     "upscale_delay_s": upscale_delay, "downscale_delay_s": downscale_delay}), name=APP_NAME,
              route_prefix="/", blocking=False)
    host = "127.0.0.1" if settings.mistral_host in ("0.0.0.0", "::") else settings.mistral_host
    out.print(f"deployed: OpenAI, Anthropic, Responses and Ollama APIs at http://{host}:{port} "
              f"({replicas} engine replica(s), {threads} CPU(s) each)")


@app.command("status")
def status(address: str = typer.Option("auto", help="The Ray cluster.")) -> None:
    """The application's state, deployments and replicas; exit 0 only when it is running."""
    _ray_env()
    import ray
    from ray import serve

    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except ConnectionError as exc:
        err.print(f"[red]error[/red]: no Ray cluster: {exc}")
        raise typer.Exit(1) from None
    application = serve.status().applications.get(APP_NAME)
    if application is None:
        out.print("the frontier application is not deployed")
        raise typer.Exit(1)
    state = _word(application.status)
    out.print(f"application {APP_NAME}: {state}")
    for name, deployment in application.deployments.items():
        counts = ", ".join(f"{n} {_word(replica)}" for replica, n in deployment.replica_states.items())
        out.print(f"  {name}: {_word(deployment.status)} ({counts})")
    raise typer.Exit(0 if state == "RUNNING" else 1)


def _word(status: object) -> str:
    """Serve's status enums as their plain names."""
    return str(getattr(status, "value", status))


@app.command("down")
def down() -> None:
    """Remove the application and stop Ray on this machine."""
    _ray_env()
    import ray
    from ray import serve

    try:
        ray.init(address="auto", logging_level=logging.WARNING, log_to_driver=False)
        serve.shutdown()  # type: ignore[no-untyped-call]
    except ConnectionError:
        pass
    subprocess.run([_ray(), "stop", "--force"], capture_output=True)
    out.print("stopped")
