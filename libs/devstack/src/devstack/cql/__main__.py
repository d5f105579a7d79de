"""``python -m devstack.cql --port N``: run the development CQL server until stopped."""

import argparse
import asyncio
import logging
import signal

from devstack.cql.server import CqlServer


async def main(host: str, port: int) -> None:
    server = CqlServer(host, port)
    await server.start()
    logging.getLogger("devstack.cql").info("CQL development server listening on %s:%d", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m devstack.cql")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9042)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(main(arguments.host, arguments.port))
