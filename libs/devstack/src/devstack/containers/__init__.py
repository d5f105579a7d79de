"""The compose stack on a real container engine: images built, ``docker compose up`` with the
local stand-ins, healthchecks made to run under podman, and everything removed afterwards."""
