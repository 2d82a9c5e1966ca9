"""The engine deployment's request router: Ray's prefix-aware router (a conversation's follow-up turn goes to the
replica whose KV cache holds its prefix, unless that replica's queue is longer than the least loaded one's by more
than `imbalanced_threshold` requests), with its prefix tree kept on the head node.

Why a subclass: Ray's router creates the tree as a detached actor wherever a CPU is free, which may be a worker
machine. Every routing decision waits on that actor, so losing that machine stopped all routing for good (the
two-node test: one answer in 150 s after the worker died). On the head, the tree lives as long as the cluster."""

from __future__ import annotations

from typing import Any, cast

import ray
from ray.llm._internal.serve.routing_policies.prefix_aware.prefix_aware_router import PrefixCacheAffinityRouter
from ray.llm._internal.serve.routing_policies.prefix_aware.prefix_tree import PrefixTreeActor
from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

# Ray gives the head node this resource; a tiny demand of it pins an actor there, and num_cpus=0 lets the tree
# sit beside replicas that take every CPU.
ON_HEAD: dict[str, Any] = {"num_cpus": 0, "resources": {"node:__internal_head__": 0.001}}


class HeadPrefixRouter(PrefixCacheAffinityRouter):
    def _extract_text_from_request(self, pending_request: Any) -> str | None:  # type: ignore[override]
        """The text a request's prefix is matched on; None (route on load alone) for calls that carry none
        (tokenize, embed) or an empty one. Ray's router raised ValueError on the first and divided by zero on
        the second, in its routing loop: the request then waited for ever."""
        try:
            text: str = super()._extract_text_from_request(pending_request)
        except ValueError:
            return None
        return text or None

    def initialize_state(self, **kwargs: Any) -> None:  # type: ignore[override]  # passes Ray's arguments on
        if kwargs.get("tree_actor") is None:
            kwargs["tree_actor"] = self._tree_on_head()
        super().initialize_state(**kwargs)

    def _tree_on_head(self) -> Any:
        # The name and namespace Ray's router uses, so every ingress replica shares one tree.
        deployment = self._deployment_id
        namespace = "::".join([SERVE_NAMESPACE, *([deployment.app_name, deployment.name] if deployment else [])])
        tree = cast(Any, PrefixTreeActor).options(  # a @ray.remote class
            name="LlmPrefixTreeActor", namespace=namespace, get_if_exists=True, lifetime="detached", **ON_HEAD,
        ).remote()
        controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        ray.get(controller._register_shutdown_cleanup_actor.remote(tree))  # removed on serve.shutdown()
        return tree
