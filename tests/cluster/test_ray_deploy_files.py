"""The Ray deployment files, checked by Ray's own schemas (offline): the Serve config and the `ray up` cluster
config, and the Serve config's import path builds the application Frontier deploys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("ray.serve", reason="the cluster extra (ray[serve])")

from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: E402
from ray.serve.schema import ServeDeploySchema  # noqa: E402

RAY = Path(__file__).resolve().parents[2] / "deploy" / "ray"


def test_the_serve_config_is_valid_for_ray_serve_and_names_frontiers_application() -> None:
    config = ServeDeploySchema.model_validate(yaml.safe_load((RAY / "serve.yaml").read_text()))
    [app] = config.applications
    assert app.import_path == "frontier.cluster.app:build" and app.route_prefix == "/"
    from frontier.cluster.app import build

    built = build(app.args)  # what `serve deploy` builds from it: an application of the two deployments
    assert type(built).__name__ == "Application"


def test_a_serve_config_with_a_wrong_field_is_refused() -> None:
    data = yaml.safe_load((RAY / "serve.yaml").read_text())
    data["proxy_location"] = "Nowhere"
    with pytest.raises(ValueError, match="proxy_location"):
        ServeDeploySchema.model_validate(data)


def test_the_cluster_config_is_valid_for_ray_up() -> None:
    config = yaml.safe_load((RAY / "cluster.yaml").read_text())
    validate_config(prepare_config(config))  # what `ray up` does first; raises on what Ray's schema refuses
    assert config["provider"]["type"] == "local"
    broken = {**config, "provider": {**config["provider"], "type": 7}}
    with pytest.raises(Exception):  # noqa: B017 (jsonschema's ValidationError, through Ray)
        validate_config(prepare_config(broken))
