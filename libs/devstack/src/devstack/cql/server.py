"""The asyncio server: one task per connection, frames in, frames out, errors as error frames."""

from __future__ import annotations

import asyncio
import logging
import struct

from devstack.cql import protocol as p
from devstack.cql.engine import (
    Engine,
    Prepared,
    QueryOptions,
    Result,
    SchemaChange,
    Session,
    SetKeyspace,
)
from devstack.cql.errors import CqlError, ProtocolError
from devstack.cql.reads import Page
from devstack.cql.system import CQL_VERSION

log = logging.getLogger("devstack.cql")

BATCH_KINDS = {0: "logged", 1: "unlogged", 2: "counter"}


class CqlServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 9042) -> None:
        self.host = host
        self.port = port
        self.engine = Engine(host, port)
        self._listeners: set[tuple[asyncio.StreamWriter, int]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session()
        try:
            while True:
                try:
                    raw_header = await reader.readexactly(p.HEADER.size)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                header = p.FrameHeader.parse(raw_header)
                version = header.version & 0x7F
                problem = self._framing_problem(header, version)
                if problem is not None:
                    # The stream can no longer be trusted: answer once, then close.
                    reply_version = version if version in p.SUPPORTED_VERSIONS else 4
                    writer.write(
                        p.frame(reply_version, header.stream, p.ERROR, p.error_body(problem))
                    )
                    await writer.drain()
                    return
                try:
                    body = await reader.readexactly(header.length)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                writer.write(self._respond(header, version, body, session, writer))
                if writer.transport.get_write_buffer_size() > 1 << 20:
                    await writer.drain()
        except Exception:
            log.exception("connection failed")
        finally:
            self._listeners = {entry for entry in self._listeners if entry[0] is not writer}
            writer.close()

    @staticmethod
    def _framing_problem(header: p.FrameHeader, version: int) -> ProtocolError | None:
        if version not in p.SUPPORTED_VERSIONS:
            return ProtocolError(
                f"Invalid or unsupported protocol version ({version}); "
                "supported versions are (3/v3, 4/v4)"
            )
        if header.version & 0x80:
            return ProtocolError("the frame has the response direction bit set")
        if header.length < 0 or header.length > p.MAX_FRAME_BYTES:
            return ProtocolError(
                f"Request is too big: length {header.length} exceeds maximum allowed "
                f"length {p.MAX_FRAME_BYTES}."
            )
        return None

    def _respond(
        self,
        header: p.FrameHeader,
        version: int,
        body: bytes,
        session: Session,
        writer: asyncio.StreamWriter,
    ) -> bytes:
        try:
            if header.flags & p.FLAG_COMPRESSION:
                raise ProtocolError("compression was not negotiated")
            reader = p.Reader(body)
            if header.flags & p.FLAG_CUSTOM_PAYLOAD:
                reader.bytes_map()
            opcode, response = self._dispatch(header.opcode, reader, version, session, writer)
            return p.frame(version, header.stream, opcode, response)
        except CqlError as error:
            return p.frame(version, header.stream, p.ERROR, p.error_body(error))
        except (struct.error, ValueError, OverflowError) as error:
            problem = ProtocolError(f"malformed message: {error}")
            return p.frame(version, header.stream, p.ERROR, p.error_body(problem))
        except Exception as error:
            log.exception("request failed")
            internal = CqlError(f"internal error: {error!r}")
            return p.frame(version, header.stream, p.ERROR, p.error_body(internal))

    def _dispatch(
        self,
        opcode: int,
        reader: p.Reader,
        version: int,
        session: Session,
        writer: asyncio.StreamWriter,
    ) -> tuple[int, bytes]:
        if opcode == p.OPTIONS:
            reader.done()
            return p.SUPPORTED, p.string_multimap(
                {"CQL_VERSION": [CQL_VERSION], "COMPRESSION": [],
                 "PROTOCOL_VERSIONS": ["3/v3", "4/v4"]}
            )  # fmt: skip
        if opcode == p.STARTUP:
            options = reader.string_map()
            reader.done()
            if not options.get("CQL_VERSION", "3").startswith("3"):
                raise ProtocolError(f"Unknown CQL version: {options['CQL_VERSION']}")
            if options.get("COMPRESSION"):
                raise ProtocolError(f"Unknown compression algorithm: {options['COMPRESSION']}")
            return p.READY, b""
        if opcode == p.REGISTER:
            events = reader.string_list()
            reader.done()
            if "SCHEMA_CHANGE" in events:
                self._listeners.add((writer, version))
            return p.READY, b""
        if opcode == p.QUERY:
            query = reader.long_string()
            params = p.read_query_parameters(reader)
            reader.done()
            result = self.engine.execute(query, self._options(params), session)
            return p.RESULT, self._result(result, version, params.skip_metadata)
        if opcode == p.PREPARE:
            query = reader.long_string()
            reader.done()
            prepared = self.engine.prepare(query, session)
            return p.RESULT, self._result(prepared, version, False)
        if opcode == p.EXECUTE:
            statement_id = reader.short_bytes()
            params = p.read_query_parameters(reader)
            reader.done()
            result = self.engine.execute_prepared(statement_id, self._options(params), session)
            return p.RESULT, self._result(result, version, params.skip_metadata)
        if opcode == p.BATCH:
            return p.RESULT, self._batch(reader, version, session)
        if opcode == p.AUTH_RESPONSE:
            raise ProtocolError("authentication is not enabled on this server")
        raise ProtocolError(f"Unknown opcode {opcode:#04x}")

    @staticmethod
    def _options(params: p.QueryParameters) -> QueryOptions:
        return QueryOptions(
            values=params.values,
            names=params.names,
            page_size=params.page_size,
            paging_state=params.paging_state,
            timestamp=params.timestamp,
            skip_metadata=params.skip_metadata,
        )

    def _batch(self, reader: p.Reader, version: int, session: Session) -> bytes:
        kind = BATCH_KINDS.get(reader.byte())
        if kind is None:
            raise ProtocolError("invalid batch type")
        items: list[tuple[str | bytes, list[bytes | None]]] = []
        for _ in range(reader.short()):
            item_kind = reader.byte()
            if item_kind == 0:
                query: str | bytes = reader.long_string()
            elif item_kind == 1:
                query = reader.short_bytes()
            else:
                raise ProtocolError(f"invalid batch statement kind {item_kind}")
            values = [reader.value() for _ in range(reader.short())]
            items.append((query, values))
        reader.short()  # consistency
        flags = reader.byte()
        if flags & p.SERIAL_CONSISTENCY:
            reader.short()
        timestamp = reader.long() if flags & p.DEFAULT_TIMESTAMP else None
        reader.done()
        result = self.engine.batch(kind, items, QueryOptions(timestamp=timestamp), session)
        return self._result(result, version, False)

    def _result(self, result: Result, version: int, skip_metadata: bool) -> bytes:
        if isinstance(result, Page):
            return p.rows_result(result, skip_metadata)
        if isinstance(result, SetKeyspace):
            return p.int32(0x0003) + p.string(result.keyspace)
        if isinstance(result, Prepared):
            return p.prepared_result(
                result.id, result.specs, result.pk_indexes, result.result_columns, version
            )
        if isinstance(result, SchemaChange):
            change = p.schema_change(result.change, result.target, result.keyspace, result.name)
            self._announce(change)
            return p.int32(0x0005) + change
        return p.int32(0x0001)

    def _announce(self, change: bytes) -> None:
        event = p.string("SCHEMA_CHANGE") + change
        for writer, version in list(self._listeners):
            if writer.is_closing():
                self._listeners.discard((writer, version))
                continue
            writer.write(p.frame(version, -1, p.EVENT, event))
