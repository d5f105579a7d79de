"""Every experiment, in the order ``make experiments`` runs them."""

from loadtests.experiments import (
    cloudflare_config_propagation,
    cloudflare_thundering_herd,
    cloudflare_tiered_cache,
    netflix_cache_zone_loss,
    stripe_idempotency,
    uber_spatial_index,
)
from loadtests.experiments.model import Experiment

EXPERIMENTS: tuple[Experiment, ...] = (
    netflix_cache_zone_loss.EXPERIMENT,
    uber_spatial_index.EXPERIMENT,
    stripe_idempotency.EXPERIMENT,
    cloudflare_tiered_cache.EXPERIMENT,
    cloudflare_config_propagation.EXPERIMENT,
    cloudflare_thundering_herd.EXPERIMENT,
)
BY_NAME = {experiment.name: experiment for experiment in EXPERIMENTS}
