"""Netflix's catalog: Cassandra wide rows behind an EVCache-style cache, Open Connect steering."""
