"""Every experiment, in the order ``make experiments`` runs them."""

from loadtests.experiments import (
    cloudflare_config_propagation,
    cloudflare_pop_loss,
    cloudflare_thundering_herd,
    cloudflare_tiered_cache,
    netflix_cache_zone_loss,
    netflix_chaos_monkey,
    netflix_open_connect_fill,
    slack_fanout,
    slack_gateway_crash,
    stripe_crash_mid_charge,
    stripe_idempotency,
    stripe_smart_retries,
    uber_spatial_index,
    uber_surge,
    uber_worker_loss,
)
from loadtests.experiments.model import Experiment

EXPERIMENTS: tuple[Experiment, ...] = (
    netflix_cache_zone_loss.EXPERIMENT,
    netflix_chaos_monkey.EXPERIMENT,
    netflix_open_connect_fill.EXPERIMENT,
    uber_spatial_index.EXPERIMENT,
    uber_worker_loss.EXPERIMENT,
    uber_surge.EXPERIMENT,
    slack_fanout.EXPERIMENT,
    slack_gateway_crash.EXPERIMENT,
    stripe_idempotency.EXPERIMENT,
    stripe_smart_retries.EXPERIMENT,
    stripe_crash_mid_charge.EXPERIMENT,
    cloudflare_tiered_cache.EXPERIMENT,
    cloudflare_config_propagation.EXPERIMENT,
    cloudflare_pop_loss.EXPERIMENT,
    cloudflare_thundering_herd.EXPERIMENT,
)
BY_NAME = {experiment.name: experiment for experiment in EXPERIMENTS}
