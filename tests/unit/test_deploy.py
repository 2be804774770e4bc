"""deploy/: the Dockerfile, the systemd unit and the Kubernetes manifest, parsed and checked
against each other and against the agent (its command, port, plan, stop grace)."""

from __future__ import annotations

import configparser
import json
import tomllib
from pathlib import Path
from typing import Any

import click
import yaml

from mongo_lifeboat.cli.main import cli
from mongo_lifeboat.config import Plan

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _dockerfile() -> dict[str, list[str]]:
    instructions: dict[str, list[str]] = {}
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            instructions.setdefault(word.upper(), []).append(rest.strip())
    return instructions


def _command_is_the_agent(argv: list[str]) -> None:
    """The argv the image or unit runs is a real lifeboat command line: the agent, with a plan."""
    assert argv[0].endswith("lifeboat")
    i = argv.index("agent")
    assert argv[1:i] == ["--config", "/etc/lifeboat/lifeboat.toml"]
    agent = cli.get_command(click.Context(cli), "agent")
    assert agent is not None
    agent.make_context("agent", argv[i + 1 :])  # its options parse (an unknown one raises)


def test_the_image_runs_the_agent_unprivileged_and_stops_gracefully() -> None:
    d = _dockerfile()
    entrypoint = json.loads(d["ENTRYPOINT"][0])  # exec form: the agent gets SIGTERM itself
    _command_is_the_agent(entrypoint)
    assert d["EXPOSE"] == ["8077"] and entrypoint[-1].endswith(":8077")
    assert d["USER"] == ["lifeboat"] and d["STOPSIGNAL"] == ["SIGTERM"]
    assert "/healthz" in d["HEALTHCHECK"][0]


def test_the_systemd_unit_runs_the_agent_hardened_and_reloads_with_sighup() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd" / "lifeboat-agent.service")
    service = unit["Service"]
    _command_is_the_agent(service["ExecStart"].split())
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID" and service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > Plan().agent.stop_grace  # a running backup may finish
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "RestrictSUIDSGID"):
        assert service[option] == "yes", option
    assert service["ProtectSystem"] == "strict" and service["CapabilityBoundingSet"] == ""
    assert service["User"] != "root" and service["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_kubernetes_manifest_is_one_agent_with_its_plan_and_probes() -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "lifeboat.yaml").read_text())}
    assert set(docs) == {"ConfigMap", "StatefulSet", "Service"}
    plan = Plan.model_validate(tomllib.loads(docs["ConfigMap"]["data"]["lifeboat.toml"]))
    spec: dict[str, Any] = docs["StatefulSet"]["spec"]
    assert spec["replicas"] == 1  # never two agents for one deployment
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    _command_is_the_agent(container["command"] + container["args"])
    port = int(plan.agent.listen.rpartition(":")[2])
    assert container["ports"][0]["containerPort"] == port == docs["Service"]["spec"]["ports"][0]["targetPort"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port}
    assert pod["terminationGracePeriodSeconds"] > plan.agent.stop_grace
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/etc/lifeboat" in mounts and "/tmp" in mounts  # the plan, and scratch space for drills
    assert plan.agent.token == "${LIFEBOAT_AGENT_TOKEN}"  # from the Secret, never in the manifest
    assert plan.schedule.base_backup and plan.schedule.drill and len(plan.repository) == 2
