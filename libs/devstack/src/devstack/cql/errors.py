"""CQL error codes and the exceptions that carry them back to the client."""

SERVER_ERROR = 0x0000
PROTOCOL_ERROR = 0x000A
SYNTAX_ERROR = 0x2000
INVALID = 0x2200
CONFIG_ERROR = 0x2300
ALREADY_EXISTS = 0x2400
UNPREPARED = 0x2500


class CqlError(Exception):
    code = SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProtocolError(CqlError):
    code = PROTOCOL_ERROR


class SyntaxException(CqlError):
    code = SYNTAX_ERROR


class InvalidRequest(CqlError):
    code = INVALID


class ConfigurationException(CqlError):
    code = CONFIG_ERROR


class AlreadyExists(CqlError):
    code = ALREADY_EXISTS

    def __init__(self, keyspace: str, table: str = "") -> None:
        what = f"table {keyspace}.{table}" if table else f"keyspace {keyspace}"
        super().__init__(f"Cannot add already existing {what}")
        self.keyspace = keyspace
        self.table = table


class Unprepared(CqlError):
    code = UNPREPARED

    def __init__(self, statement_id: bytes) -> None:
        super().__init__(f"Prepared query with ID {statement_id.hex()} not found")
        self.statement_id = statement_id
