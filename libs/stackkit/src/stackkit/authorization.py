"""Reading the ``Authorization`` header: the one bearer-token parser of the stack.

Only the parsing is shared. Each service keeps its own answer to a missing or unknown token
(Slack's ``not_authed`` and ``invalid_auth``, Stripe's 401 body, the edge's 401), because its
clients expect that API's answer.
"""

BEARER = "bearer"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, or ``None`` when it has
    none: no header, an empty one, another scheme (``Basic ...``) or the scheme alone.

    The scheme is matched without regard to case (RFC 9110 section 11.1) and ends at the first
    space; whitespace around the token is dropped. The token is returned as sent, non-ASCII
    included: whether it is a valid token is the caller's question, so a client sending a wrong
    token hears "invalid", not "missing".
    """
    scheme, _, credentials = (authorization or "").partition(" ")
    token = credentials.strip()
    if scheme.lower() != BEARER or not token:
        return None
    return token
