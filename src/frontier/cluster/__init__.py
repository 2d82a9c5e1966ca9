"""Frontier on Ray Serve (the `cluster` extra): the engine as a deployment with one engine per replica, and an
ingress deployment serving Frontier's APIs over it through the same Engine protocol (`HandleEngine`)."""
