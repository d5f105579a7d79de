"""The edge's decisions as plain code: cache policy, WAF scoring, rate limits, PoP selection,
config versions. No I/O, no framework imports."""
