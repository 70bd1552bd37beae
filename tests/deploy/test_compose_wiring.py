"""docker-compose.yml wires up: dependencies, names, ports, health, variables, profiles."""

from __future__ import annotations

import pytest

from tests.deploy import compose
from tests.deploy.tools import COMPOSE_FILE

ENV = {"LIFTOFF_API_KEYS": "sk-wiring-test", "LIFTOFF_EVAL_API_KEYS": "sk-eval-wiring-test"}
PROFILES = ("gpu", "cpu")


@pytest.fixture(scope="module")
def project() -> compose.Project:
    return compose.load(COMPOSE_FILE, env=ENV)


def test_the_stack_has_a_gpu_and_a_cpu_profile(project: compose.Project) -> None:
    # pgvector: Postgres (retrieval index, evaluation runs); redis: shared rate limits.
    assert project.profiles == {*PROFILES, "pgvector", "redis"}
    for profile in PROFILES:
        names = {service.name for service in project.enabled(profile)}
        assert {"evaluation", f"ollama-{profile}", f"pull-{profile}", f"api-{profile}"} <= names


def test_every_depends_on_target_exists_in_some_profile(project: compose.Project) -> None:
    for service in project.services.values():
        for target in service.spec.get("depends_on", {}):
            assert target in project.services, f"{service.name} depends on unknown {target}"


@pytest.mark.parametrize("profile", PROFILES)
def test_required_dependencies_are_enabled_with_their_dependents(
    project: compose.Project, profile: str
) -> None:
    """A required dependency outside the active profile makes Compose refuse the project;
    `required: false` ones are dropped, so each profile must keep at least one per group."""
    enabled = {service.name for service in project.enabled(profile)}
    for service in project.enabled(profile):
        depends_on = service.spec.get("depends_on", {})
        for target, condition in depends_on.items():
            if condition.get("required", True):
                assert target in enabled, f"{service.name} needs {target} under --profile {profile}"
        optional = [target for target, cond in depends_on.items() if not cond.get("required", True)]
        if optional:
            assert enabled & set(optional), f"{service.name} waits on none of {optional}"


@pytest.mark.parametrize("profile", PROFILES)
def test_services_reach_each_other_by_the_names_and_ports_they_listen_on(
    project: compose.Project, profile: str
) -> None:
    enabled = project.enabled(profile)
    for service in enabled:
        for host, port in service.urls():
            answering = [other for other in enabled if host in other.aliases]
            assert len(answering) == 1, (
                f"--profile {profile}: {service.name} calls {host}, answered by "
                f"{[other.name for other in answering]}"
            )
            assert port in answering[0].listens_on, (
                f"{service.name} calls {host}:{port}; {answering[0].name} listens on "
                f"{sorted(answering[0].listens_on)}"
            )


def test_ollama_port_11434_is_never_published(project: compose.Project) -> None:
    for service in project.services.values():
        for port in service.published:
            assert "11434" not in port, f"{service.name} publishes Ollama: {port}"


def test_published_ports_bind_loopback_by_default(project: compose.Project) -> None:
    published = {
        service.name: service.published
        for service in project.services.values()
        if service.published
    }
    assert published == {
        "api-gpu": ["127.0.0.1:8000:8000"],
        "api-cpu": ["127.0.0.1:8000:8000"],
        "evaluation": ["127.0.0.1:8001:8001"],
        "retrieval": ["127.0.0.1:8002:8002"],
        "ui": ["127.0.0.1:8003:8003"],
    }


def test_every_service_has_a_healthcheck(project: compose.Project) -> None:
    for service in project.services.values():
        test = service.spec.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{service.name} has no healthcheck"
        assert not {"curl", "wget"} & set(" ".join(test).split()), f"{service.name} uses curl"


def test_gpu_profile_reserves_nvidia_gpus_and_cpu_profile_none(project: compose.Project) -> None:
    def devices(name: str) -> list[dict[str, object]]:
        spec = project.services[name].spec
        devices: list[dict[str, object]] = (
            spec.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        )
        return devices

    assert devices("ollama-gpu") == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert devices("ollama-cpu") == []


def test_models_live_on_a_named_volume_shared_by_both_profiles(project: compose.Project) -> None:
    for name in ("ollama-gpu", "ollama-cpu"):
        assert project.services[name].spec["volumes"] == ["ollama-models:/root/.ollama"]
    assert "ollama-models" in project.tree["volumes"]


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_pulls_the_model_its_gateway_serves(
    project: compose.Project, profile: str
) -> None:
    pull = project.services[f"pull-{profile}"].spec["command"]
    api = project.services[f"api-{profile}"]
    assert pull[:2] == ["liftoff", "pull"]
    assert pull[-1] == api.environment["LIFTOFF_MODEL"]
    assert api.environment["LIFTOFF_OLLAMA_PULL"] == "false"  # the one-shot pull did it
    assert api.spec["depends_on"][f"pull-{profile}"] == {
        "condition": "service_completed_successfully"
    }


def test_default_models_are_llama31_8b_on_gpu_and_a_small_one_on_cpu(
    project: compose.Project,
) -> None:
    assert project.services["api-gpu"].environment["LIFTOFF_MODEL"] == "llama3.1:8b"
    assert project.services["api-cpu"].environment["LIFTOFF_MODEL"] == "llama3.2:1b"


def test_every_variable_is_documented_in_env_example() -> None:
    documented = compose.env_example()
    used = {ref.name for ref in compose.tree_references(compose.load_raw(COMPOSE_FILE))}
    assert used <= set(documented), f"undocumented: {sorted(used - set(documented))}"


def test_variables_without_a_default_are_guarded_with_a_message() -> None:
    refs = list(compose.tree_references(compose.load_raw(COMPOSE_FILE)))
    guarded = {ref.name for ref in refs if ref.operator in (":?", "?")}
    defaulted = {ref.name for ref in refs if ref.operator in (":-", "-")}
    bare = {ref.name for ref in refs if ref.operator is None}
    assert bare <= guarded | defaulted, f"unguarded: {sorted(bare - guarded - defaulted)}"
    assert {"LIFTOFF_API_KEYS", "LIFTOFF_EVAL_API_KEYS"} <= guarded


@pytest.mark.parametrize("missing", ["LIFTOFF_API_KEYS", "LIFTOFF_EVAL_API_KEYS"])
def test_compose_refuses_to_start_without_either_services_keys(missing: str) -> None:
    """Both services bind 0.0.0.0 inside their containers, so each requires keys; Compose
    stops before starting anything, naming the variable and where to set it."""
    env = {key: value for key, value in ENV.items() if key != missing}
    with pytest.raises(compose.MissingVariable, match=f"{missing}: set {missing} in .env"):
        compose.load(COMPOSE_FILE, env=env)
    with pytest.raises(compose.MissingVariable, match=missing):
        compose.load(COMPOSE_FILE, env={**env, missing: ""})


def test_evaluation_requires_its_own_keys(project: compose.Project) -> None:
    environment = project.services["evaluation"].environment
    assert environment["LIFTOFF_EVAL_API_KEYS"] == ENV["LIFTOFF_EVAL_API_KEYS"]
    documented = compose.env_example()
    assert "LIFTOFF_EVAL_API_KEYS" in documented and documented["LIFTOFF_EVAL_API_KEYS"] == ""


def test_evaluation_sends_a_gateway_key(project: compose.Project) -> None:
    assert project.services["evaluation"].environment["OPENAI_API_KEY"] == ENV["LIFTOFF_API_KEYS"]
    overridden = compose.load(COMPOSE_FILE, env={**ENV, "LIFTOFF_EVALUATION_API_KEY": "sk-eval"})
    assert overridden.services["evaluation"].environment["OPENAI_API_KEY"] == "sk-eval"
