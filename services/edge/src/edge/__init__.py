"""Cloudflare's edge: identical PoPs in front of every service."""
