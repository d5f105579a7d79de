"""Every experiment, in the order ``make experiments`` runs them."""

from loadtests.experiments import (
    cloudflare_config_propagation,
    cloudflare_pop_loss,
    cloudflare_thundering_herd,
    cloudflare_tiered_cache,
    netflix_cache_zone_loss,
    stripe_idempotency,
    stripe_smart_retries,
    uber_spatial_index,
    uber_worker_loss,
)
from loadtests.experiments.model import Experiment

EXPERIMENTS: tuple[Experiment, ...] = (
    netflix_cache_zone_loss.EXPERIMENT,
    uber_spatial_index.EXPERIMENT,
    uber_worker_loss.EXPERIMENT,
    stripe_idempotency.EXPERIMENT,
    stripe_smart_retries.EXPERIMENT,
    cloudflare_tiered_cache.EXPERIMENT,
    cloudflare_config_propagation.EXPERIMENT,
    cloudflare_pop_loss.EXPERIMENT,
    cloudflare_thundering_herd.EXPERIMENT,
)
BY_NAME = {experiment.name: experiment for experiment in EXPERIMENTS}
