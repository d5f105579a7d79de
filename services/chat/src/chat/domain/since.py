"""What a reconnecting client says it has: ``?since=C1:41,C2:7``, the last ``seq`` per channel."""

import re

_SEQ = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() also takes "²"
MAX_SEQ = 2**63 - 1  # seqs are Postgres bigints


def parse_since(raw: str) -> tuple[dict[str, int], list[str]]:
    """``C1:41,C2:7`` -> ``({"C1": 41, "C2": 7}, [])``; the second item lists the malformed
    parts (not ``<channel>:<seq>``, the seq not ASCII digits or past a bigint), ignored."""
    since, bad = {}, []
    for part in raw.split(","):
        channel, _, seq = part.strip().partition(":")
        if not channel and not seq:
            continue
        if channel and _SEQ.fullmatch(seq) and int(seq) <= MAX_SEQ:
            since[channel] = int(seq)
        else:
            bad.append(part.strip()[:60])
    return since, bad
